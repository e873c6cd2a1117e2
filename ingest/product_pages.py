"""Products that shop pages publish: schema.org Product JSON-LD, else OpenGraph product tags. No network.

Pages are untrusted and often broken: nothing here raises on bad markup or bad JSON; a page yields
the products that can be read, possibly none. Rows have the catalog's fields (see `ingest.sources`)
plus `currency`, `images`, `url` (canonical), `sku` and `gtin`, which `validate` ignores.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

GTIN_KEYS = ("gtin", "gtin13", "gtin12", "gtin14", "gtin8")
OG_PRICE_KEYS = ("product:price:amount", "og:price:amount")
OG_CURRENCY_KEYS = ("product:price:currency", "og:price:currency")


class _PageParser(HTMLParser):
    """Collects JSON-LD blocks, <meta> tags, the canonical link and <base href>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.json_ld: list[str] = []
        self.meta: dict[str, list[str]] = {}
        self.canonical = ""
        self.base = ""
        self._in_json_ld = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: (value or "").strip() for name, value in attrs}
        if tag == "script":
            self._in_json_ld = attr.get("type", "").split(";")[0].strip().lower() == "application/ld+json"
            if self._in_json_ld:
                self.json_ld.append("")
        elif tag == "meta" and attr.get("content"):
            key = (attr.get("property") or attr.get("name") or "").lower()
            self.meta.setdefault(key, []).append(attr["content"])
        elif tag == "link" and "canonical" in attr.get("rel", "").lower().split() and not self.canonical:
            self.canonical = attr.get("href", "")
        elif tag == "base" and not self.base:
            self.base = attr.get("href", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json_ld = False

    def handle_data(self, data: str) -> None:
        if self._in_json_ld:
            self.json_ld[-1] += data


def absolute_url(link: str, base: str = "") -> str:
    """`link` resolved against `base` in the form URLs are compared in (no fragment, lower-case scheme and
    host), or "" unless that is an http(s) URL; "" for a blank link. Never raises: links come from untrusted pages."""
    if not link.strip():
        return ""
    try:
        parts = urlsplit(urljoin(base, link.strip()))
    except ValueError:  # such as "http://[not-ipv6]/"
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower(), fragment="").geturl()


def _text(value: Any) -> str:
    """A display string from a JSON-LD value: a string, a number, a named object, or the first of a list."""
    if isinstance(value, list):
        return next((text for text in map(_text, value) if text), "")
    if isinstance(value, dict):
        return _text(value.get("name"))
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return " ".join(html.unescape(str(value)).split())
    return ""


def parse_price(value: Any) -> float | None:
    """A price from a number or text such as "1,299.00", "1.299,00", "49,90" or "$49.9"; None if unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):  # the first number, once spaces between digit groups ("1 299,00") are gone
        match = re.search(r"-?\d[\d.,]*", re.sub(r"(?<=\d)\s+(?=\d)", "", value))
        digits = match.group().rstrip(".,") if match else ""
        if "," in digits and "." in digits:  # the later separator is the decimal one
            thousands = "," if digits.rfind(",") < digits.rfind(".") else "."
            digits = digits.replace(thousands, "").replace(",", ".")
        elif re.fullmatch(r"\d{1,3}(,\d{3})+", digits):
            digits = digits.replace(",", "")
        else:
            digits = digits.replace(",", ".")
        try:
            number = float(digits)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _image_urls(value: Any, base: str) -> list[str]:
    """Absolute http(s) image URLs from a string, an ImageObject, or a list of either."""
    if isinstance(value, list):
        urls = [url for item in value for url in _image_urls(item, base)]
    elif isinstance(value, dict):
        urls = _image_urls(value.get("contentUrl") or value.get("url"), base)
    elif isinstance(value, str):
        urls = [absolute_url(html.unescape(value), base)]
    else:
        urls = []
    return list(dict.fromkeys(url for url in urls if url))


def _types(node: dict) -> set[str]:
    kinds = node.get("@type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return {str(kind).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for kind in kinds}  # "Product", "schema:Product", IRIs


def _json_ld_products(blocks: list[str]) -> list[dict]:
    """Product nodes anywhere in the JSON-LD blocks (@graph, lists, mainEntity, ItemList ...), in order."""
    products = []
    for block in blocks:
        try:
            stack = [json.loads(block, strict=False)]
        except (ValueError, RecursionError):
            continue
        while stack:
            node = stack.pop()
            if isinstance(node, dict) and "Product" in _types(node):
                products.append(node)
            elif isinstance(node, (dict, list)):
                stack.extend(reversed(list(node.values()) if isinstance(node, dict) else node))
    return products


def _offer(offers: Any) -> tuple[float | None, str]:
    """The lowest price among the offers (Offer, AggregateOffer, priceSpecification, lists) and its currency."""
    found = []
    stack = [offers]
    while stack:
        offer = stack.pop()
        if isinstance(offer, list):
            stack.extend(offer)
        elif isinstance(offer, dict):
            price = parse_price(offer.get("price"))
            if price is None:
                price = parse_price(offer.get("lowPrice"))
            if price is not None:
                found.append((price, _text(offer.get("priceCurrency"))))
            stack.extend(offer[key] for key in ("offers", "priceSpecification") if key in offer)
    return min(found, key=lambda item: item[0]) if found else (None, "")


def _category(value: Any) -> str:
    """The most specific part of a category such as "Apparel > Women > Dresses"."""
    return _text(value).rsplit(">", 1)[-1].strip()


def _from_json_ld(node: dict, base: str) -> dict[str, Any]:
    price, currency = _offer(node.get("offers"))
    return {
        "title": _text(node.get("name")),
        "brand": _text(node.get("brand")),
        "price": price,
        "currency": currency,
        "images": _image_urls(node.get("image"), base),
        "category": _category(node.get("category")),
        "color": _text(node.get("color")),
        "pattern": _text(node.get("pattern")),
        "sku": _text(node.get("sku")),
        "gtin": next(filter(None, (_text(node.get(key)) for key in GTIN_KEYS)), ""),
        "url": absolute_url(_text(node.get("url")), base),
    }


def _from_meta(meta: dict[str, list[str]], base: str) -> dict[str, Any]:
    def first(*keys: str) -> str:
        return next((" ".join(values[0].split()) for key in keys if (values := meta.get(key))), "")

    return {
        "title": first("og:title"),
        "brand": first("product:brand"),
        "price": parse_price(first(*OG_PRICE_KEYS)),
        "currency": first(*OG_CURRENCY_KEYS),
        "images": _image_urls(meta.get("og:image", []) + meta.get("og:image:url", []), base),
        "category": _category(first("product:category")),
        "color": first("product:color"),
        "pattern": first("product:pattern"),
        "sku": first("product:retailer_item_id"),
        "gtin": "",
        "url": "",
    }


def _is_og_product(meta: dict[str, list[str]]) -> bool:
    og_type = (meta.get("og:type") or [""])[0].lower()
    return og_type.startswith(("product", "og:product")) or any(key in meta for key in OG_PRICE_KEYS)


def product_id(row: dict[str, Any]) -> str:
    """Stable across crawls: from the sku (within the product URL's host), else the GTIN, else the URL."""
    if row["sku"]:
        key = f"sku:{urlsplit(row['url']).netloc}:{row['sku']}"
    else:
        key = f"gtin:{row['gtin']}" if row["gtin"] else row["url"]
    return "web-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _parse(page: str) -> _PageParser:
    parser = _PageParser()
    try:
        parser.feed(page)
        parser.close()
    except AssertionError:  # html.parser's reaction to some malformed declarations; keep what was read
        pass
    return parser


def extract_products(page: str, url: str) -> list[dict[str, Any]]:
    """Catalog rows for the products `page` (fetched from `url`) publishes; [] when it publishes none.

    JSON-LD Products win; a single one borrows missing fields from the OpenGraph tags. Without JSON-LD,
    OpenGraph tags make one product if `og:type` or a price tag says the page is a product.
    Products without a title or an image are skipped: the catalog needs both.
    """
    parsed = _parse(page)
    base = absolute_url(parsed.base, url) or url
    links = [absolute_url(link, base) for link in (parsed.canonical, *parsed.meta.get("og:url", [])[:1])]
    canonical = next(filter(None, links), absolute_url(url))
    og = _from_meta(parsed.meta, base)
    found = [_from_json_ld(node, base) for node in _json_ld_products(parsed.json_ld)]
    if len(found) == 1:
        found = [{key: value if value not in (None, "", []) else og[key] for key, value in found[0].items()}]
    elif not found and _is_og_product(parsed.meta):
        found = [og]
    found = [fields for fields in found if fields["title"] and fields["images"]]
    rows = []
    for number, fields in enumerate(found, 1):
        if not fields["url"]:  # identified by the page, or by its place on a page that lists several
            fields["url"] = canonical if len(found) == 1 else f"{canonical}#{number}"
        row = {"id": "", **fields, "image": fields["images"][0], "garment": "", "source": url}
        row["id"] = product_id(row)
        rows.append(row)
    return rows


def extract_sitemap(document: str) -> list[str]:
    """The <loc> URLs of a sitemap (`urlset`) or sitemap index (`sitemapindex`).

    Raises ValueError when `document` is not well-formed XML or not a sitemap.
    """
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        raise ValueError(f"not well-formed XML: {error}") from None
    if _local(root.tag) not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap: the root element is <{_local(root.tag)}>")
    # Only <url><loc> and <sitemap><loc>: image sitemaps also nest <image:loc> one level deeper.
    locs = ((child.text or "").strip() for entry in root for child in entry if _local(child.tag) == "loc")
    return list(dict.fromkeys(loc for loc in locs if loc))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
