"""The Trends page in Debian's chromium: the rising hashtags' chart is drawn and the example images load."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from atelier.demo_trends import RISING, write_trend_export
from atelier.trend_store import TrendStore
from ingest.trends_import import import_trend_posts
from tests.browser.conftest import screenshot_path, wait_for_results

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trends_env(triton, milvus_uri, tmp_path_factory):
    """The demo export in its own collection, named in the environment the dashboard starts with (imported before
    playwright runs its event loop: the import fetches images with asyncio.run)."""
    work = tmp_path_factory.mktemp("trends")
    store = TrendStore(milvus_uri, "trends_browser")
    import_trend_posts(write_trend_export(work / "demo"), triton, store, work / "rejects.jsonl", progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATELIER_TRENDS_COLLECTION", store.collection)
        yield


def test_trends_page_draws_the_chart_and_example_images(trends_env, browser, dashboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{dashboard_url}/trends")
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    expect(chart.locator("canvas, svg").first).to_be_visible(timeout=60_000)
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 150
    expect(page.get_by_text(re.compile(rf"^#{RISING} · score"))).to_be_visible()  # not a sourcing idea named so
    assert wait_for_results(page, 12) >= 12  # the rising hashtags' latest posts, then the clusters'
    page.screenshot(path=screenshot_path(tmp_path, "trends.png"), full_page=True)
    page.close()
