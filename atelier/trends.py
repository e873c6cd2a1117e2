"""Trend analytics over normalised posts (ingest.trend_posts): rising terms, trend clusters and white space.

Rising terms. A term is a hashtag ("#linen") or, for posts that carry `labels` from zero-shot labelling
(atelier.labels' {"style": {"value": "boho", ...}}, or {"style": "boho"}, or {"style": ["boho", "retro"]}),
a label value ("style: boho"; "unknown" values are left out). Posts are bucketed into
periods in UTC (a day, a week from Monday, a calendar month); every period from the first post's to the last
post's counts, empty ones as 0. c_t is the number of posts of period t carrying the term or, `likes_weighted`,
the sum over them of 1 + log2(1 + likes) (0 likes count 1, 3 likes 3, 1023 likes 11: engagement matters,
damped so that one viral post is not a trend). With the last `recent` periods R and the periods before them E:

    recent  = mean of c_t over R          earlier = mean of c_t over E
    score   = log2((recent + a) / (earlier + a))          a = `smoothing`, 1 by default

+1: the recent rate is double the earlier one, 0: unchanged, -1: halved. The smoothing keeps rare terms from
scoring like trends: a term new in the recent periods scores log2(recent + 1), not infinity.

Trend clusters. Spherical k-means on the L2-normalised post embeddings: k-means++ seeds drawn from
numpy's generator for `seed`, the best of `restarts` runs by total cosine distance; the same inputs and seed
give the same clusters. A centroid is the normalised mean of its members; clusters are ordered by size, then
likes, and numbered in that order.

White space. For each cluster, the catalog product most cosine-similar to its centroid, and

    demand = size * (1 + log2(1 + likes / size))     (its posts, scaled up by their damped mean likes)
    score  = demand * (1 - similarity)               (demand the catalog does not answer)

A cluster whose best similarity is below `threshold` is white space: a sourcing idea. White space comes first,
by score, then the covered clusters by score.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from atelier.config import AtelierError

PERIODS = {"day": "D", "week": "W", "month": "M"}
SUMMARY_COLUMNS = ("kind", "total", "recent", "earlier", "score")  # the other columns are the periods' counts
TOP_HASHTAGS = 5
UNKNOWN_LABEL = "unknown"  # atelier.labels.UNKNOWN: no value was confident enough


def engagement(likes: int) -> float:
    """A post's weight in likes-weighted counts: 1 + log2(1 + likes)."""
    return 1.0 + math.log2(1 + likes)


def _label_values(label: Any) -> list[str]:
    """The values of one label: a {"value": ...} dict as atelier.labels makes them, a string or a list of them."""
    if isinstance(label, dict):
        label = label.get("value", "")
    values = [label] if isinstance(label, str) else list(label)
    return [value for value in values if value and value != UNKNOWN_LABEL]


def _terms(post: dict[str, Any]) -> list[tuple[str, str]]:
    """(term, kind) pairs of a post, each once."""
    terms = [(f"#{tag}", "hashtag") for tag in post.get("hashtags", ())]
    for name, label in (post.get("labels") or {}).items():
        terms += [(f"{name}: {value}", "label") for value in _label_values(label)]
    return list(dict.fromkeys(terms))


def rising_terms(posts: list[dict[str, Any]], by: str = "week", min_count: int = 3, top: int = 20, recent: int = 1,
                 likes_weighted: bool = False, smoothing: float = 1.0) -> pd.DataFrame:
    """The `top` terms seen in at least `min_count` posts, by rising score (module docstring), then by posts.

    `posts` as ingest.trend_posts reads them (`date` a datetime, `hashtags`, `likes`), optionally with `labels`.

    Indexed by term; columns `SUMMARY_COLUMNS` (kind "hashtag" or "label", total posts, recent and earlier
    mean counts, score), then one column of counts per period, named by its first day ("2024-01-08"), oldest
    first: `table.drop(columns=list(SUMMARY_COLUMNS)).T` is a chart of the terms over time.
    """
    if by not in PERIODS:
        raise ValueError(f"by must be one of {', '.join(PERIODS)}, not {by!r}")
    if recent < 1 or min_count < 1 or top < 1:
        raise ValueError("recent, min_count and top must be at least 1")
    if smoothing <= 0:
        raise ValueError(f"smoothing must be positive, not {smoothing}")
    if not posts:
        raise AtelierError("there are no posts to find trends in; import a trend export first")
    periods = pd.DatetimeIndex(pd.to_datetime([post["date"] for post in posts], utc=True)).tz_convert(None)
    periods = periods.to_period(PERIODS[by])
    span = pd.period_range(periods.min(), periods.max(), freq=PERIODS[by])
    if len(span) <= recent:
        raise AtelierError(f"the posts span {len(span)} {by}(s); rising terms need more than {recent} to compare")
    names = [period.start_time.date().isoformat() for period in span]
    rows = [(term, kind, period.start_time.date().isoformat(), engagement(post["likes"]) if likes_weighted else 1.0)
            for post, period in zip(posts, periods) for term, kind in _terms(post)]
    frame = pd.DataFrame(rows, columns=["term", "kind", "period", "weight"])
    counts = frame.pivot_table(index="term", columns="period", values="weight", aggfunc="sum", fill_value=0.0)
    counts = counts.reindex(columns=names, fill_value=0.0).rename_axis(columns=None)
    values = counts.to_numpy(dtype=float)
    recent_mean, earlier_mean = values[:, -recent:].mean(axis=1), values[:, :-recent].mean(axis=1)
    summary = pd.DataFrame({
        "kind": frame.groupby("term")["kind"].first(), "total": frame.groupby("term").size(),
        "recent": recent_mean, "earlier": earlier_mean,
        "score": np.log2((recent_mean + smoothing) / (earlier_mean + smoothing)),
    }, index=counts.index)
    table = summary.join(counts)
    table = table[table["total"] >= min_count].rename_axis("term").reset_index()
    table = table.sort_values(["score", "total", "term"], ascending=[False, False, True]).set_index("term")
    return table.head(top)


def unit_rows(matrix: np.ndarray, what: str) -> np.ndarray:
    """The rows of a 2-D array scaled to length 1; zero or non-finite rows are refused."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (one row per item), not shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms < 1e-12):
        raise ValueError(f"{what} has zero or non-finite rows")
    return matrix / norms


@dataclass(frozen=True, eq=False)
class TrendCluster:
    id: int  # 0 is the largest cluster
    centroid: np.ndarray  # unit length
    size: int
    likes: int
    hashtags: list[tuple[str, int]]  # the most common hashtags and their post counts
    post_ids: list[str]  # most central (most similar to the centroid) first
    name: str  # its two most distinctive hashtags ("#gingham #picnic"), or "Trend <n>" where it has none

    def examples(self, count: int = 4) -> list[str]:
        """The ids of the `count` most central posts, to show as the trend's example images."""
        return self.post_ids[:count]


def _seeds(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++: each next seed drawn with probability proportional to its squared distance to the nearest."""
    chosen = [int(rng.integers(len(points)))]
    distance = np.maximum(2.0 - 2.0 * points @ points[chosen[0]], 0.0)  # squared distance on the unit sphere
    for _ in range(1, k):
        distance[distance < 1e-9] = 0.0
        if distance.sum() == 0.0:
            raise AtelierError(f"the posts have only {len(chosen)} distinct embeddings; ask for at most "
                               f"{len(chosen)} trend clusters")
        chosen.append(int(rng.choice(len(points), p=distance / distance.sum())))
        distance = np.minimum(distance, np.maximum(2.0 - 2.0 * points @ points[chosen[-1]], 0.0))
    return points[chosen].copy()


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int) -> tuple[np.ndarray, float]:
    """One spherical k-means run: the labels and the total cosine distance of the points to their centres."""
    centres = _seeds(points, k, rng)
    labels = None
    for _ in range(iterations):
        similarity = points @ centres.T
        new_labels = np.argmax(similarity, axis=1)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, points)
        empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        worst_fit = np.argsort(similarity[np.arange(len(points)), labels], kind="stable")
        sums[empty] = points[worst_fit[:len(empty)]]  # an empty cluster restarts at the worst-fitting points
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centres = np.where(norms > 1e-12, sums / np.maximum(norms, 1e-12), centres)
    similarity = points @ centres.T
    return np.argmax(similarity, axis=1), float(np.sum(1.0 - similarity.max(axis=1)))


def trend_clusters(embeddings: np.ndarray, posts: list[dict[str, Any]], k: int, seed: int = 0, restarts: int = 4,
                   iterations: int = 100) -> list[TrendCluster]:
    """Up to `k` clusters of the posts by their embeddings (row i is posts[i]'s image embedding)."""
    points = unit_rows(embeddings, "the post embeddings")
    if len(points) != len(posts):
        raise ValueError(f"{len(points)} embeddings for {len(posts)} posts; give one embedding per post")
    if not 1 <= k <= len(posts):
        raise ValueError(f"k must be between 1 and the number of posts ({len(posts)}), not {k}")
    rng = np.random.default_rng(seed)
    labels, _ = min((_kmeans(points, k, rng, iterations) for _ in range(restarts)), key=lambda run: run[1])
    clusters = []
    for label in range(k):
        members = np.flatnonzero(labels == label)
        if not len(members):
            continue
        centroid = points[members].sum(axis=0)
        centroid /= np.linalg.norm(centroid)
        members = members[np.argsort(-(points[members] @ centroid), kind="stable")]
        tags = Counter(tag for i in members for tag in posts[i].get("hashtags", ()))
        clusters.append((members, centroid, sorted(tags.items(), key=lambda item: (-item[1], item[0]))))
    clusters.sort(key=lambda c: (-len(c[0]), -sum(posts[i]["likes"] for i in c[0]), int(c[0].min())))
    overall = Counter(tag for post in posts for tag in post.get("hashtags", ()))
    return [TrendCluster(number, centroid, len(members), int(sum(posts[i]["likes"] for i in members)),
                         tags[:TOP_HASHTAGS], [str(posts[i]["id"]) for i in members],
                         _name(number, dict(tags), len(members), overall, len(posts)))
            for number, (members, centroid, tags) in enumerate(clusters)]


def _name(number: int, tags: dict[str, int], size: int, overall: Counter, total: int) -> str:
    """The two hashtags whose share of the cluster's posts most exceeds their share of all posts (a tag every
    post carries, "#ootd", names nothing), or "Trend <n>"."""
    lift = {tag: count / size - overall[tag] / total for tag, count in tags.items()}
    distinctive = sorted((tag for tag in lift if lift[tag] > 0), key=lambda tag: (-lift[tag], -tags[tag], tag))
    return " ".join(f"#{tag}" for tag in distinctive[:2]) or f"Trend {number + 1}"


@dataclass(frozen=True)
class Coverage:
    cluster: TrendCluster
    product_id: str  # the catalog product closest to the cluster's centroid
    similarity: float  # its cosine similarity
    demand: float
    score: float
    white_space: bool  # similarity below the threshold: no close product


def demand(cluster: TrendCluster) -> float:
    """size * (1 + log2(1 + likes / size)): the cluster's posts, scaled up by their damped mean likes."""
    return cluster.size * (1.0 + math.log2(1.0 + cluster.likes / cluster.size))


def white_space(clusters: list[TrendCluster], catalog_embeddings: np.ndarray, catalog_ids: list[str],
                threshold: float) -> list[Coverage]:
    """Each cluster's closest catalog product; white space (best similarity < threshold) first, by score."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a cosine similarity between -1 and 1, not {threshold}")
    if len(catalog_ids) == 0:
        raise AtelierError("the catalog has no products to compare trends with; ingest a catalog first")
    products = unit_rows(catalog_embeddings, "the catalog embeddings")
    if len(products) != len(catalog_ids):
        raise ValueError(f"{len(products)} catalog embeddings for {len(catalog_ids)} ids")
    coverage = []
    for cluster in clusters:
        if cluster.centroid.shape != products.shape[1:]:
            raise ValueError(f"cluster embeddings have {cluster.centroid.shape[0]} dimensions, the catalog's "
                             f"{products.shape[1]}: were they made by the same model?")
        similarities = products @ cluster.centroid
        best = int(np.argmax(similarities))
        similarity, need = float(similarities[best]), demand(cluster)
        coverage.append(Coverage(cluster, str(catalog_ids[best]), similarity, need, need * (1.0 - similarity),
                                 similarity < threshold))
    return sorted(coverage, key=lambda c: (not c.white_space, -c.score, c.cluster.id))
