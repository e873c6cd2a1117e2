"""The crawler against a real shop on loopback: sitemap, JSON-LD, OpenGraph, robots.txt, slow and failing pages."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from ingest.crawl import USER_AGENT, crawl_products
from ingest.sources import read_catalog
from tests.http_server import serving

pytestmark = pytest.mark.integration
FAST = {"per_host_delay_s": 0.05, "timeout_s": 0.5, "retries": 2, "backoff_s": 0.05, "allow_private": True}
SLOW_S = 1.0  # longer than FAST's timeout
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def json_ld_page(product: dict, head: str = "") -> str:
    return (f"<html><head>{head}<script type='application/ld+json'>{json.dumps(product)}</script></head>"
            "<body><h1>shop</h1></body></html>")


PAGES = {
    "/p/shirt": json_ld_page({"@context": "https://schema.org", "@type": "Product", "name": "Linen Shirt",
                              "image": "/img/shirt.jpg", "brand": {"@type": "Brand", "name": "Northfold"},
                              "category": "Shirts", "sku": "NF-1",
                              "offers": [{"@type": "Offer", "price": "49.90", "priceCurrency": "EUR"}]}),
    "/p/dress": json_ld_page({"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "name": "Dress"},
        {"@type": "Product", "name": "Silk Dress", "image": ["../img/dress.jpg", "../img/dress-back.jpg"],
         "brand": "Vell & Co", "offers": {"@type": "Offer", "price": 1299, "priceCurrency": "EUR"}}]},
        head="<link rel='canonical' href='/p/dress'>"),
    "/p/coat": ("<html><head><meta property='og:type' content='product'><meta property='og:title' content='Wool Coat'>"
                "<meta property='og:image' content='/img/coat.jpg'><meta property='product:price:amount' "
                "content='1,149.00'><meta property='product:brand' content='Aldermoor'></head></html>"),
    "/p/broken": "<html><head><script type='application/ld+json'>{\"@type\": \"Product\", \"name\": </script><div <p",
    "/private/secret": json_ld_page({"@type": "Product", "name": "Secret", "image": "/img/secret.jpg"}),
}
SITEMAP_PATHS = [*PAGES, "/p/dress?utm_source=mail", "/slow", "/error", "/big", "/endless", "/old-shirt",
                 "/go-private"]


@dataclass
class Shop:
    url: str
    requests: list[str] = field(default_factory=list)
    times: list[tuple[str, float, float]] = field(default_factory=list)  # (path, start, end) of each request
    agents: set[str] = field(default_factory=set)


@pytest.fixture
def shop() -> Iterator[Shop]:
    state = Shop("")

    @web.middleware
    async def record(request: web.Request, handler):
        state.requests.append(request.path_qs)
        state.agents.add(request.headers.get("User-Agent", ""))
        start = time.monotonic()
        try:
            return await handler(request)
        finally:
            state.times.append((request.path, start, time.monotonic()))

    async def handle(request: web.Request) -> web.Response:
        path = request.path
        if path == "/robots.txt":
            return web.Response(text="User-agent: *\nDisallow: /private/\n")
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{state.url}{p}</loc></url>" for p in SITEMAP_PATHS)
            return web.Response(text=f'<?xml version="1.0"?><urlset xmlns="{SITEMAP_NS}">{urls}</urlset>',
                                content_type="application/xml")
        if path.endswith(".xml"):  # /index.xml -> /sitemap.xml, /nest/n.xml -> /nest/n+1.xml
            child = "/sitemap.xml" if path == "/index.xml" else f"/nest/{int(path[6:-4]) + 1}.xml"
            return web.Response(text=f'<sitemapindex xmlns="{SITEMAP_NS}"><sitemap><loc>{child}</loc></sitemap>'
                                     "</sitemapindex>", content_type="application/xml")
        if path == "/slow":
            await asyncio.sleep(SLOW_S)
        if path == "/error":
            return web.Response(status=500)
        if path == "/big":
            return web.Response(text="<html>" + "x" * 100_000, content_type="text/html")
        if path == "/endless":  # chunked: no Content-Length to refuse it by
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(100):
                await response.write(b"x" * 10_000)
            return response
        if path == "/old-shirt":
            raise web.HTTPMovedPermanently("/p/shirt")
        if path == "/go-private":
            raise web.HTTPFound("/private/secret")
        if path in PAGES:
            return web.Response(text=PAGES[path], content_type="text/html")
        return web.Response(status=404)

    app = web.Application(middlewares=[record])
    app.router.add_get("/{tail:.*}", handle)
    with serving(app) as url:
        state.url = url
        yield state


def test_crawl_sitemap(shop: Shop):
    calls = []
    started = time.monotonic()
    report = crawl_products([f"{shop.url}/index.xml"], max_bytes=50_000, progress=lambda *c: calls.append(c), **FAST)
    elapsed = time.monotonic() - started

    products = {row["title"]: row for row in report.products}
    assert sorted(products) == ["Linen Shirt", "Silk Dress", "Wool Coat"]  # once each
    shirt, dress, coat = products["Linen Shirt"], products["Silk Dress"], products["Wool Coat"]
    assert shirt | {"id": ""} == {
        "id": "", "title": "Linen Shirt", "brand": "Northfold", "price": 49.9, "currency": "EUR",
        "image": f"{shop.url}/img/shirt.jpg", "images": [f"{shop.url}/img/shirt.jpg"], "category": "Shirts",
        "garment": "", "color": "", "pattern": "", "sku": "NF-1", "gtin": "", "url": f"{shop.url}/p/shirt",
        "source": f"{shop.url}/p/shirt",
    }
    assert dress["url"] == dress["source"] == f"{shop.url}/p/dress"
    assert (dress["brand"], dress["price"]) == ("Vell & Co", 1299.0)
    assert dress["images"] == [f"{shop.url}/img/dress.jpg", f"{shop.url}/img/dress-back.jpg"]
    assert (coat["brand"], coat["price"], coat["image"]) == ("Aldermoor", 1149.0, f"{shop.url}/img/coat.jpg")
    assert len({row["id"] for row in report.products}) == 3
    assert report.duplicates == 2  # the dress again at ?utm_source=mail, the shirt again through /old-shirt

    reasons = {failure["url"].removeprefix(shop.url): failure["reason"] for failure in report.failures}
    assert reasons == {
        "/p/broken": "no product data",
        "/private/secret": "disallowed by robots.txt",
        "/go-private": "disallowed by robots.txt",  # a redirect into /private/ is not followed
        "/slow": "timed out (after 2 retries)",
        "/error": "HTTP 500 (after 2 retries)",
        "/big": "response larger than 50000 bytes",
        "/endless": "response larger than 50000 bytes",
    }
    assert not any(path.startswith("/private/") for path in shop.requests)
    assert shop.requests.count("/robots.txt") == 1
    assert shop.requests.count("/slow") == 3 and shop.requests.count("/error") == 3
    assert report.summary() == {"urls": 14, "pages": 6, "sitemaps": 2, "products": 3, "duplicates": 2,
                                "failures": 7}
    assert calls[-1] == (14, 14)

    # polite: one request at a time, per_host_delay_s apart, saying who we are (the server goes on serving
    # /slow after the crawler gave up on it, so its requests are left out)
    assert shop.agents == {USER_AGENT} and USER_AGENT.startswith("Atelier/")
    served = sorted((start, end) for path, start, end in shop.times if path != "/slow")
    assert all(later[0] - earlier[1] >= 0.04 for earlier, later in zip(served, served[1:]))
    # the slow page cannot hang the crawl: its three attempts time out, and everything else is quick
    assert elapsed < FAST["timeout_s"] * (FAST["retries"] + 1) + 3


def test_private_addresses_are_refused(shop: Shop):
    port = shop.url.rsplit(":", 1)[1]
    urls = [f"{shop.url}/p/shirt", f"http://localhost:{port}/p/coat", "ftp://example.com/x.html",
            "file:///etc/passwd", f"http://user:secret@127.0.0.1:{port}/p/shirt"]
    report = crawl_products(urls, **{**FAST, "allow_private": False})
    assert report.products == [] and shop.requests == []
    assert [failure["reason"] for failure in report.failures] == [
        "refused: private address", "refused: private address", "refused: not an http(s) URL",
        "refused: not an http(s) URL", "refused: the URL carries credentials"]


def test_robots_txt_server_error_disallows_all():
    requests = []

    async def handle(request: web.Request) -> web.Response:
        requests.append(request.path)
        return web.Response(status=503) if request.path == "/robots.txt" else web.Response(text=PAGES["/p/shirt"])

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    with serving(app) as url:
        report = crawl_products([f"{url}/p/shirt", f"{url}/p/coat"], **FAST)
    assert report.products == [] and requests == ["/robots.txt"] * 3
    assert {failure["url"]: failure["reason"] for failure in report.failures} == {
        f"{url}/robots.txt": "robots.txt unavailable, so nothing on the site is crawled: HTTP 503 (after 2 retries)",
        f"{url}/p/shirt": "disallowed by robots.txt",
        f"{url}/p/coat": "disallowed by robots.txt",
    }


def test_sitemap_caps(shop: Shop):
    nested = crawl_products([f"{shop.url}/nest/0.xml"], **FAST)
    assert nested.sitemaps == 3 and nested.failures == [
        {"url": f"{shop.url}/nest/3.xml", "reason": "sitemap nested more than 3 deep"}]
    capped = crawl_products([f"{shop.url}/sitemap.xml"], max_urls=3, **FAST)
    assert [row["title"] for row in capped.products] == ["Linen Shirt", "Silk Dress"]
    assert capped.failures == [{"url": f"{shop.url}/sitemap.xml",
                                "reason": "10 URLs skipped: a crawl is capped at 3 URLs"}]


def test_crawl_delay_is_honoured():
    times: dict[str, float] = {}

    async def handle(request: web.Request) -> web.Response:
        times[request.path] = time.monotonic()
        if request.path == "/robots.txt":
            return web.Response(text="User-agent: atelier\nCrawl-delay: 1\nDisallow:\n")
        return web.Response(text=PAGES[request.path], content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    with serving(app) as url:
        report = crawl_products([f"{url}/p/shirt", f"{url}/p/coat"], **FAST)
    assert len(report.products) == 2
    assert times["/p/coat"] - times["/p/shirt"] >= 1.0


def test_atelier_crawl_writes_a_catalog_that_ingest_reads(shop: Shop, tmp_path: Path):
    pages = [f"{shop.url}/p/shirt", f"{shop.url}/p/coat", f"{shop.url}/private/secret"]
    result = subprocess.run([sys.executable, "-m", "cli", "crawl", *pages, "--allow-private", "--delay", "0.01",
                             "--timeout", "2", "--out", str(tmp_path / "shop.jsonl"), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["products"], summary["failures"]) == (2, 1)
    rows, rejects = read_catalog(tmp_path / "shop.jsonl")
    assert sorted(row["title"] for row in rows) == ["Linen Shirt", "Wool Coat"] and not rejects
    failure = json.loads(Path(summary["failures_file"]).read_text())
    assert failure == {"url": f"{shop.url}/private/secret", "reason": "disallowed by robots.txt"}
    assert "/private/secret" not in shop.requests
