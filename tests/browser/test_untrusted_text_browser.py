"""Text that came from outside (a crawled title) shows as typed, and the browser loads no URL a catalog chose."""

from __future__ import annotations

import csv

import pytest
from aiohttp import web

from atelier.images import png_bytes
from export.parity import sample_images
from ingest.fetch import ImageSources
from tests.browser.conftest import product_titles, running_dashboard, screenshot_path, wait_for_results
from tests.conftest import ingested
from tests.http_server import serving

pytestmark = pytest.mark.browser
PNG, REMOTE_PNG = (png_bytes(image) for image in sample_images()[:2])


@pytest.fixture(scope="module")
def tracker():
    """A loopback server that records who asked for what: (path, User-Agent)."""
    requests: list[tuple[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        requests.append((request.path, request.headers.get("User-Agent", "")))
        return web.Response(body=REMOTE_PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    with serving(app) as url:
        yield url, requests


TITLE = '![pixel]({base}/pixel.png) <img src="{base}/tag.png"> **bold** [link]({base}/link) $x^2$ :red[red]'


@pytest.fixture(scope="module")
def hostile_dashboard_url(triton_server, milvus_uri, tracker, tmp_path_factory):
    """The dashboard on a catalog of a product with a hostile title and one whose image is a URL."""
    base, requests = tracker
    work = tmp_path_factory.mktemp("hostile-catalog")
    (work / "shirt.png").write_bytes(PNG)
    with (work / "catalog.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "title", "image", "brand", "color"])
        writer.writeheader()
        writer.writerow({"id": "hostile-1", "title": TITLE.format(base=base), "image": "shirt.png",
                         "brand": "<b>Brand</b>", "color": "red"})
        writer.writerow({"id": "remote-1", "title": "a shirt whose image is a URL", "image": f"{base}/product.png",
                         "brand": "plain", "color": "blue"})
    store = ingested(work / "catalog.csv", triton_server.grpc_url, milvus_uri, "untrusted_text", work / "r.jsonl",
                     ImageSources.under([work], allow_private=True))  # the remote image is on loopback
    assert store.count() == 2
    requests.clear()  # the ingest's own fetch of product.png
    yield from running_dashboard(triton_server, milvus_uri, store.collection, work)


def test_a_hostile_title_shows_literally_and_loads_nothing(browser, hostile_dashboard_url, tracker, tmp_path):
    base, requests = tracker
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{hostile_dashboard_url}/catalog")
    wait_for_results(page, 2)  # both product images, the remote one fetched by the dashboard's server
    titles = [product_titles(page).nth(n).inner_text() for n in range(product_titles(page).count())]
    page.screenshot(path=screenshot_path(tmp_path, "untrusted-text.png"))
    assert TITLE.format(base=base) in titles
    assert page.get_by_text("<b>Brand</b>", exact=False).count() == 1
    assert [(path, agent) for path, agent in requests if "Chrome" in agent] == []  # nothing from the browser
    assert any(path == "/product.png" and "aiohttp" in agent for path, agent in requests)  # the server's fetch
    assert all(not src.startswith(base) for src in page.locator("img").evaluate_all("els => els.map(e => e.src)"))
    page.close()
