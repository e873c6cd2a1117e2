from __future__ import annotations

from atelier.demo_trends import FALLING, RISING, write_trend_export
from atelier.trends import rising_terms
from ingest.trend_posts import read_trend_posts


def test_the_demo_export_is_deterministic_and_makes_sage_rise_and_neon_fall(tmp_path):
    first, second = write_trend_export(tmp_path / "a"), write_trend_export(tmp_path / "b")
    assert first.read_text() == second.read_text()
    assert (tmp_path / "a" / "images" / "demo-post-0001.png").read_bytes() == \
        (tmp_path / "b" / "images" / "demo-post-0001.png").read_bytes()
    posts, rejects = read_trend_posts(first)
    assert rejects == [] and 100 <= len(posts) <= 140
    assert len({post["date"].isocalendar()[:2] for post in posts}) == 10  # ten weeks
    for weighted in (False, True):
        table = rising_terms(posts, by="week", likes_weighted=weighted)
        assert table.index[0] == f"#{RISING}" and table.index[-1] == f"#{FALLING}"
    assert all({"ootd"} < set(post["hashtags"]) for post in posts)
