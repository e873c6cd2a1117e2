from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.crawl import deduplicate
from ingest.product_pages import extract_products, extract_sitemap, parse_price
from ingest.sources import validate

URL = "https://shop.example/p/linen-shirt?utm_source=mail"


def page(*json_ld: object, head: str = "", raw_json_ld: str = "") -> str:
    scripts = "".join(f'<script type="application/ld+json">{json.dumps(block)}</script>' for block in json_ld)
    if raw_json_ld:
        scripts += f'<script type="application/ld+json">{raw_json_ld}</script>'
    return f"<!doctype html><html><head>{head}{scripts}</head><body><h1>Shop</h1></body></html>"


SHIRT = {"@context": "https://schema.org", "@type": "Product", "name": "Linen Shirt", "image": "/img/shirt.jpg",
         "brand": {"@type": "Brand", "name": "Northfold"}, "sku": "NF-1", "category": "Apparel > Tops > Shirts",
         "color": "white", "offers": {"@type": "Offer", "price": "49.9", "priceCurrency": "EUR"}}


@pytest.mark.parametrize(("html", "expected"), [
    (page(SHIRT), {"title": "Linen Shirt", "brand": "Northfold", "price": 49.9, "currency": "EUR",
                   "image": "https://shop.example/img/shirt.jpg", "category": "Shirts", "color": "white",
                   "sku": "NF-1", "url": "https://shop.example/p/linen-shirt?utm_source=mail"}),
    (page({"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Shop"}, {"@type": "BreadcrumbList", "itemListElement": []},
        {**SHIRT, "@type": ["Product", "Thing"], "brand": "Northfold"}]}),
     {"title": "Linen Shirt", "brand": "Northfold", "price": 49.9}),
    (page([{"@type": "Organization", "name": "Shop"}, {**SHIRT, "@type": "http://schema.org/Product"}]),
     {"title": "Linen Shirt"}),
    (page({**SHIRT, "offers": [{"price": "1,299.00", "priceCurrency": "USD"},
                               {"@type": "AggregateOffer", "lowPrice": 999, "priceCurrency": "USD"}]}),
     {"price": 999.0, "currency": "USD"}),
    (page({**SHIRT, "offers": {"@type": "Offer", "priceSpecification": {"price": "1.299,50", "priceCurrency": "EUR"}}}),
     {"price": 1299.5, "currency": "EUR"}),
    (page({**SHIRT, "offers": []}), {"price": None, "currency": ""}),
    (page({**SHIRT, "image": [{"@type": "ImageObject", "contentUrl": "a.jpg"}, "a.jpg", "https://cdn.example/b.jpg"]}),
     {"image": "https://shop.example/p/a.jpg", "images": ["https://shop.example/p/a.jpg", "https://cdn.example/b.jpg"]}),
    (page({**SHIRT, "image": {"@type": "ImageObject", "url": "//cdn.example/c.jpg"}}),
     {"image": "https://cdn.example/c.jpg"}),
    (page({**SHIRT, "name": "Tom &amp; Co  Shirt", "brand": [{"name": "Acme"}]}), {"title": "Tom & Co Shirt",
                                                                                      "brand": "Acme"}),
    (page({**SHIRT, "image": ""}, head='<meta property="og:image" content="/og.jpg">'),
     {"image": "https://shop.example/og.jpg"}),  # a single JSON-LD product borrows what it lacks from OpenGraph
    (page(SHIRT, head='<link rel="canonical" href="linen-shirt#top">'),
     {"url": "https://shop.example/p/linen-shirt", "image": "https://shop.example/img/shirt.jpg"}),
    (page({**SHIRT, "image": "shirt.jpg"}, head='<base href="https://cdn.example/assets/">'),
     {"image": "https://cdn.example/assets/shirt.jpg"}),
])
def test_json_ld_products(html, expected):
    [row] = extract_products(html, URL)
    assert {key: row[key] for key in expected} == expected
    assert row["source"] == URL and row["id"].startswith("web-") and row["garment"] == ""


OG_HEAD = ('<meta property="og:type" content="product"><meta property="og:title" content="Wool  Coat">'
           '<meta property="og:image" content="../img/coat.jpg"><meta property="og:image" content="/img/coat2.jpg">'
           '<meta property="product:price:amount" content="149,00"><meta property="product:price:currency" '
           'content="EUR"><meta property="product:brand" content="Aldermoor"><meta property="og:url" '
           'content="https://shop.example/p/coat">')


def test_open_graph_fallback():
    [row] = extract_products(page(head=OG_HEAD), "https://shop.example/p/coat?ref=1")
    assert row | {"id": ""} == {
        "id": "", "title": "Wool Coat", "brand": "Aldermoor", "price": 149.0, "currency": "EUR",
        "image": "https://shop.example/img/coat.jpg", "images": ["https://shop.example/img/coat.jpg",
                                                                  "https://shop.example/img/coat2.jpg"],
        "category": "", "garment": "", "color": "", "pattern": "", "sku": "", "gtin": "",
        "url": "https://shop.example/p/coat", "source": "https://shop.example/p/coat?ref=1",
    }


@pytest.mark.parametrize("html", [
    "",
    "<html><head><title>About us</title><meta property='og:title' content='About'>"
    "<meta property='og:image' content='/team.jpg'></head></html>",  # OpenGraph, but not a product
    page(raw_json_ld='{"@type": "Product", "name": "Cut off'),  # malformed JSON-LD
    page(raw_json_ld="[1, 2, null]"),
    page({"@type": "Product", "name": "No picture"}),  # the catalog needs an image
    page({"@type": "Product", "image": "/a.jpg"}),  # ... and a title
    "<html><head><script type='application/ld+json'>{\"@type\": \"Product\", </scr<div <![if x]> <p",
    "<<<>>>&&&;</div></script><![foo[",
])
def test_no_product_data(html):
    assert extract_products(html, URL) == []


def test_broken_markup_keeps_what_was_read():
    html = page(SHIRT) + "<div><p <![foo[ unclosed <script>"
    assert [row["title"] for row in extract_products(html, URL)] == ["Linen Shirt"]


def test_several_products_on_one_page_are_told_apart():
    listing = {"@type": "ItemList", "itemListElement": [
        {"@type": "ListItem", "item": {**SHIRT, "sku": "", "name": "One"}},
        {"@type": "ListItem", "item": {**SHIRT, "sku": "", "name": "Two", "url": "/p/two"}},
        {"@type": "ListItem", "item": {**SHIRT, "sku": "", "name": "Three"}}]}
    rows = extract_products(page(listing), "https://shop.example/list")
    assert [(r["title"], r["url"]) for r in rows] == [("One", "https://shop.example/list#1"),
                                                      ("Two", "https://shop.example/p/two"),
                                                      ("Three", "https://shop.example/list#3")]
    assert len({r["id"] for r in rows}) == 3


def test_id_is_stable_and_follows_sku_then_url():
    [a] = extract_products(page(SHIRT), "https://shop.example/p/1")
    [b] = extract_products(page(SHIRT), "https://shop.example/other/url")
    [c] = extract_products(page({**SHIRT, "sku": ""}), "https://shop.example/p/1")
    [d] = extract_products(page({**SHIRT, "sku": ""}, head='<link rel="canonical" href="/p/1">'),
                           "https://shop.example/p/1?size=m")
    assert a["id"] == b["id"] != c["id"] == d["id"]


@pytest.mark.parametrize(("text", "price"), [
    ("49.9", 49.9), ("1,299.00", 1299.0), ("1.299,00", 1299.0), ("49,90", 49.9), ("$ 1 299.50", 1299.5),
    ("EUR 12", 12.0), (19, 19.0), ("10 - 20", 10.0), ("free", None), ("", None), ("-5", None), (None, None),
    (True, None), (float("nan"), None),
])
def test_parse_price(text, price):
    assert parse_price(text) == price


def test_rows_are_valid_catalog_rows():
    [row] = extract_products(page(SHIRT), URL)
    valid = validate(row, Path("."), default_source="web")
    assert valid["id"] == row["id"] and valid["image_uri"] == row["image"] and valid["price"] == 49.9
    assert valid["source"] == URL and valid["brand"] == "Northfold"


def test_deduplicate():
    def product(url: str, head: str = "", **changes: str) -> dict:
        return extract_products(page({**SHIRT, **changes}, head=head), url)[0]

    first = product("https://shop.example/p/1")
    rows = [
        first,
        product("https://shop.example/p/1?color=red", name="a", image="/a.jpg"),  # same sku
        product("https://shop.example/p/1?b", '<link rel="canonical" href="/p/1">', sku="", name="b", image="/b.jpg"),
        product("https://shop.example/p/2", sku="", gtin13="04012345678901", name="New", image="/n.jpg"),
        product("https://other.example/p/9", sku="", gtin="4012345678901", name="c", image="/c.jpg"),  # GTIN of p/2
        product("https://shop.example/p/3", sku="X", name="LINEN  shirt!", image="/d.jpg"),  # brand and title
        product("https://shop.example/p/4", sku="Y", name="Other", brand="Other"),  # same image as p/1
    ]
    kept, dropped = deduplicate(rows)
    assert [row["url"] for row in kept] == ["https://shop.example/p/1", "https://shop.example/p/2"]
    assert dropped == 5


def test_extract_sitemap():
    urlset = ('<?xml version="1.0" encoding="UTF-8"?>'
              '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
              'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
              '<url><loc> https://shop.example/p/1 </loc><image:image><image:loc>https://shop.example/1.jpg'
              '</image:loc></image:image></url><url><loc>https://shop.example/p/2</loc></url>'
              '<url><loc>https://shop.example/p/1</loc></url></urlset>')
    index = ('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>'
             'https://shop.example/a.xml</loc><lastmod>2024-01-01</lastmod></sitemap></sitemapindex>')
    assert extract_sitemap(urlset) == ["https://shop.example/p/1", "https://shop.example/p/2"]
    assert extract_sitemap(index) == ["https://shop.example/a.xml"]
    with pytest.raises(ValueError, match="not a sitemap"):
        extract_sitemap("<rss><channel/></rss>")
    with pytest.raises(ValueError, match="not well-formed"):
        extract_sitemap("<urlset><url>")
