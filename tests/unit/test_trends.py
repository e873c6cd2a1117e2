from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from atelier.config import AtelierError
from atelier.trends import SUMMARY_COLUMNS, rising_terms, trend_clusters, white_space

WEEK_1 = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)  # a Monday


def post(pid, date, hashtags=(), likes=0, labels=None):
    return {"id": pid, "caption": "", "hashtags": list(hashtags), "image": f"https://cdn.example/{pid}.jpg",
            "likes": likes, "date": date, "source": "test", **({"labels": labels} if labels else {})}


def weekly(tag, counts, labels=None):
    """counts[w] posts tagged `tag` in week w (days 0..6 of it)."""
    return [post(f"{tag}-{week}-{n}", WEEK_1 + timedelta(weeks=week, days=n % 7), [tag], labels=labels)
            for week, count in enumerate(counts) for n in range(count)]


def test_a_rising_and_b_falling():
    boho = {"style": {"value": "boho", "confidence": 0.9, "scores": {}}, "occasion": "beach"}
    unknown = {"style": {"value": "unknown", "confidence": 0.2, "scores": {}}}
    posts = weekly("a", [1, 2, 4], labels=boho) + weekly("b", [4, 2, 1], labels=unknown) + weekly("c", [0, 1, 1])
    table = rising_terms(posts, by="week", min_count=3)
    # "#c" is in 2 posts only, "style: unknown" is no term; ties go by total posts, then by term
    assert list(table.index) == ["#a", "occasion: beach", "style: boho", "#b"]
    assert table.loc["#a", "score"] == pytest.approx(math.log2((4 + 1) / (1.5 + 1)))  # = 1
    assert table.loc["#a", "score"] == pytest.approx(1.0)
    assert table.loc["#b", "score"] == pytest.approx(-1.0)
    assert table.loc["style: boho", "kind"] == "label" and table.loc["#a", "kind"] == "hashtag"
    assert table.loc["#a", "total"] == 7 and table.loc["#a", "recent"] == 4 and table.loc["#a", "earlier"] == 1.5
    counts = table.drop(columns=list(SUMMARY_COLUMNS))
    assert list(counts.columns) == ["2024-01-01", "2024-01-08", "2024-01-15"]
    assert counts.loc["#a"].tolist() == [1, 2, 4] and counts.loc["#b"].tolist() == [4, 2, 1]
    assert list(rising_terms(posts, min_count=3, top=1).index) == ["#a"]


def test_likes_weighted_counts():
    posts = [post("p1", WEEK_1, ["a"], likes=0), post("p2", WEEK_1 + timedelta(weeks=1), ["a"], likes=3)]
    assert rising_terms(posts, min_count=1).loc["#a", "score"] == pytest.approx(0.0)
    weighted = rising_terms(posts, min_count=1, likes_weighted=True)
    assert weighted.loc["#a", ["earlier", "recent"]].tolist() == [1.0, 3.0]  # 1 + log2(1 + likes)
    assert weighted.loc["#a", "score"] == pytest.approx(math.log2(4 / 2))


def test_empty_periods_count_as_zero_and_several_recent_periods():
    months = [datetime(2024, month, 5, tzinfo=timezone.utc) for month in (1, 1, 3, 4, 4, 4)]
    posts = [post(f"p{n}", date, ["a"]) for n, date in enumerate(months)]
    table = rising_terms(posts, by="month", min_count=1, recent=2)
    assert table.drop(columns=list(SUMMARY_COLUMNS)).loc["#a"].tolist() == [2, 0, 1, 3]
    assert table.loc["#a", "score"] == pytest.approx(math.log2((2 + 1) / (1 + 1)))


def test_rising_terms_refuses_what_it_cannot_compare():
    with pytest.raises(AtelierError, match="span 1 week"):
        rising_terms(weekly("a", [3]))
    with pytest.raises(ValueError, match="by must be one of"):
        rising_terms(weekly("a", [3, 3]), by="year")
    with pytest.raises(AtelierError, match="no posts"):
        rising_terms([])


def groups(rng):
    """Three known groups around orthogonal directions (sizes 6, 4, 2); noise in +/- pairs, so each group's
    centroid is its direction exactly and its first post (no noise) is the most central."""
    directions = np.eye(16)[:3]
    vectors, posts, truth = [], [], []
    for group, (size, tag, likes) in enumerate([(6, "linen", 1), (4, "tweed", 5), (2, "sequins", 50)]):
        noise = rng.normal(0, 0.05, (size // 2 - 1, 16))
        noise[:, :3] = 0
        for n, delta in enumerate([np.zeros(16), *noise, *(-noise), np.zeros(16)]):
            vectors.append(directions[group] + delta)
            posts.append(post(f"{tag}-{n}", WEEK_1, [tag, "ootd"] if n % 2 else [tag], likes=likes))
            truth.append(group)
    return np.array(vectors), posts, truth


def test_clusters_recover_known_groups():
    vectors, posts, truth = groups(np.random.default_rng(7))
    order = np.random.default_rng(1).permutation(len(posts))
    vectors, posts = vectors[order], [posts[i] for i in order]
    clusters = trend_clusters(vectors * 3.0, posts, k=3)  # any length: rows are normalised
    assert [c.size for c in clusters] == [6, 4, 2] and [c.id for c in clusters] == [0, 1, 2]
    assert [{pid.split("-")[0] for pid in c.post_ids} for c in clusters] == [{"linen"}, {"tweed"}, {"sequins"}]
    assert [c.likes for c in clusters] == [6, 20, 100]
    assert clusters[0].hashtags == [("linen", 6), ("ootd", 3)]
    np.testing.assert_allclose(clusters[1].centroid, np.eye(16)[1], atol=1e-12)
    assert clusters[0].examples(1)[0] in {"linen-0", "linen-5"}  # the two noiseless posts
    again = trend_clusters(vectors, posts, k=3)
    assert [c.post_ids for c in again] == [c.post_ids for c in clusters]


def test_clusters_refuse_bad_input():
    vectors, posts, _ = groups(np.random.default_rng(0))
    with pytest.raises(ValueError, match="one embedding per post"):
        trend_clusters(vectors[:-1], posts, k=2)
    with pytest.raises(ValueError, match="k must be between 1"):
        trend_clusters(vectors, posts, k=len(posts) + 1)
    same = np.tile(np.eye(4)[:1], (5, 1))
    with pytest.raises(AtelierError, match="only 1 distinct"):
        trend_clusters(same, [post(f"p{n}", WEEK_1) for n in range(5)], k=2)


def test_white_space_ranks_the_uncovered_clusters():
    e = np.eye(4)
    spots = [(e[0], 4, 0), (e[1] + e[2], 3, 7), (e[3], 2, 1)]  # (direction, posts, likes per post)
    vectors = np.array([d for d, size, _ in spots for _ in range(size)])
    posts = [post(f"g{g}-{n}", WEEK_1, likes=likes) for g, (_, size, likes) in enumerate(spots) for n in range(size)]
    clusters = trend_clusters(vectors, posts, k=3)
    catalog = np.array([e[0], e[1], e[3] + 3 * e[0]])
    ranked = white_space(clusters, catalog, ["p-near", "p-side", "p-far"], threshold=0.8)

    assert [c.cluster.post_ids[0].split("-")[0] for c in ranked] == ["g1", "g2", "g0"]
    assert [c.white_space for c in ranked] == [True, True, False]
    assert [c.product_id for c in ranked] == ["p-side", "p-far", "p-near"]
    assert [c.similarity for c in ranked] == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(10), 1.0])
    # demand = size * (1 + log2(1 + likes / size)): 3 * (1 + 3) = 12, 2 * (1 + 1) = 4, 4 * (1 + 0) = 4
    assert [c.demand for c in ranked] == pytest.approx([12.0, 4.0, 4.0])
    assert [c.score for c in ranked] == pytest.approx([12 * (1 - 1 / math.sqrt(2)), 4 * (1 - 1 / math.sqrt(10)), 0.0])

    only_far = white_space(clusters, catalog, ["p-near", "p-side", "p-far"], threshold=0.5)
    assert [c.white_space for c in only_far] == [True, False, False]
    assert only_far[0].product_id == "p-far"


def test_white_space_refuses_bad_catalogs():
    clusters = trend_clusters(np.eye(4)[:2], [post("a", WEEK_1), post("b", WEEK_1)], k=2)
    with pytest.raises(AtelierError, match="ingest a catalog"):
        white_space(clusters, np.zeros((0, 4)), [], threshold=0.8)
    with pytest.raises(ValueError, match="same model"):
        white_space(clusters, np.eye(8)[:1], ["x"], threshold=0.8)
    with pytest.raises(ValueError, match="2 ids"):
        white_space(clusters, np.eye(4)[:1], ["x", "y"], threshold=0.8)


def test_a_cluster_is_named_by_its_most_distinctive_hashtags_not_by_one_every_post_has():
    posts = [{"id": str(i), "likes": 1, "hashtags": ["ootd", "linen" if i < 4 else "denim", "sun"]} for i in range(8)]
    embeddings = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    names = sorted(cluster.name for cluster in trend_clusters(embeddings, posts, 2))
    assert names == ["#denim", "#linen"]
    untagged = [{"id": str(i), "likes": 1} for i in range(2)]
    assert [c.name for c in trend_clusters(np.eye(2), untagged, 2)] == ["Trend 1", "Trend 2"]
