"""The Catalog page (AppTest) against the live Triton and Milvus: products collected from shop pages, ingested
with progress, browsed with filters, failures and rejects shown."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from PIL import Image

from atelier.images import png_bytes
from tests.apptest import open_dashboard
from tests.http_server import serving

pytestmark = pytest.mark.integration


def product_page(name: str, image: str, category: str, price: str) -> str:
    product = {"@context": "https://schema.org", "@type": "Product", "name": name, "image": image, "sku": name,
               "brand": {"@type": "Brand", "name": "Saltmarsh"}, "category": category,
               "offers": {"@type": "Offer", "price": price, "priceCurrency": "EUR"}}
    return f'<html><head><script type="application/ld+json">{json.dumps(product)}</script></head><body></body></html>'


@pytest.fixture
def shop():
    pages = {"/p/shirt": product_page("Sage linen shirt", "/img/shirt.png", "tops", "49.90"),
             "/p/skirt": product_page("Navy pleated skirt", "/img/skirt.png", "bottoms", "59"),
             "/p/broken-image": product_page("Ghost coat", "/img/missing.png", "outerwear", "99"),
             "/p/about": "<html><body>no product here</body></html>"}
    images = {"/img/shirt.png": png_bytes(Image.new("RGB", (96, 96), (150, 172, 130))),
              "/img/skirt.png": png_bytes(Image.new("RGB", (96, 96), (28, 40, 92)))}

    async def handle(request: web.Request) -> web.Response:
        if request.path in pages:
            return web.Response(text=pages[request.path], content_type="text/html")
        if request.path in images:
            return web.Response(body=images[request.path], content_type="image/png")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    with serving(app) as url:
        yield url, list(pages)


def test_collect_ingest_and_browse(monkeypatch, triton_server, milvus_uri, shop, tmp_path) -> None:
    url, paths = shop
    app = open_dashboard(monkeypatch, {"ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
                                       "ATELIER_COLLECTION": "catalog_page", "ATELIER_HOME": str(tmp_path / "home")},
                         "views/catalog.py")
    assert not app.exception
    assert any("0 of 0 products" in caption.value for caption in app.caption)

    app.text_area(key="crawl-urls").set_value("\n".join(url + path for path in paths))
    app.checkbox(key="crawl-private").check()
    app.slider(key="crawl-delay").set_value(0.0).run()
    next(button for button in app.button if button.label == "Collect products").click().run()
    assert not app.exception
    assert any("3 products found on 4 pages" in info.value for info in app.info)
    assert any("2 products added, 0 replaced" in success.value and "1 rejected" in success.value
               for success in app.success)
    failures = [frame.value for frame in app.dataframe]
    assert any("no product data" in " ".join(map(str, frame.get("reason", []))) for frame in failures)
    assert any("HTTP 404" in " ".join(map(str, frame.get("reason", []))) for frame in failures)  # the reject
    titles = [block.value for block in app.markdown if block.value.startswith("**")]
    assert sorted(titles) == ["**Navy pleated skirt**", "**Sage linen shirt**"]

    app.multiselect(key="browse-category").select("bottoms").run()
    assert [block.value for block in app.markdown if block.value.startswith("**")] == ["**Navy pleated skirt**"]
    assert any("1 of 2 products" in caption.value for caption in app.caption)
