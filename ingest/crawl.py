"""Collect products from shop pages and sitemaps with a polite, bounded aiohttp crawler.

Polite: robots.txt is read once per site and obeyed (RFC 9309: a 4xx robots.txt allows everything, a
5xx or unreachable one disallows everything), one request at a time per site with `per_host_delay_s`
between requests (robots.txt's Crawl-delay when larger), retries back off exponentially, and the
User-Agent says who is asking. Safe: http(s) only, no credentials or cookies, a timeout and a size cap
on every response, and hosts with a private, loopback, link-local or reserved address are refused
unless allowed (ingest.addresses).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import aiohttp
from tqdm import tqdm

from ingest.addresses import MAX_REDIRECTS, REDIRECTS, PublicResolver, refusal
from ingest.product_pages import absolute_url, extract_products, extract_sitemap

USER_AGENT = f"Atelier/{version('atelier')} (GenAI fashion studio product-data crawler; obeys robots.txt)"
ROBOTS_AGENT = "Atelier"  # the token robots.txt groups are matched against
HEADERS = {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.5"}
MAX_SITEMAP_DEPTH = 3  # a sitemap index of sitemap indexes of sitemaps
MAX_CRAWL_DELAY_S = 60.0  # a larger Crawl-delay would stall the crawl; it is capped


@dataclass
class CrawlReport:
    products: list[dict[str, Any]] = field(default_factory=list)  # rows of `extract_products`, deduplicated
    failures: list[dict[str, str]] = field(default_factory=list)  # {"url", "reason"}
    urls: int = 0  # distinct URLs handled, sitemaps and refused ones included
    pages: int = 0  # HTML pages fetched and read
    sitemaps: int = 0
    duplicates: int = 0  # products dropped because an earlier URL gave the same product or image

    def summary(self) -> dict[str, int]:
        return {"urls": self.urls, "pages": self.pages, "sitemaps": self.sitemaps, "products": len(self.products),
                "duplicates": self.duplicates, "failures": len(self.failures)}


class _Failed(Exception):
    """A URL that gave nothing; the message is the reason reported."""


@dataclass
class _Site:
    """One origin: its robots.txt rules and its turn-taking."""

    delay: float
    robots: RobotFileParser | None = None
    robots_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ready_at: float = 0.0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One request at a time, `delay` seconds apart."""
        loop = asyncio.get_running_loop()
        async with self.lock:
            await asyncio.sleep(max(0.0, self.ready_at - loop.time()))
            try:
                yield
            finally:
                self.ready_at = loop.time() + self.delay


@dataclass(frozen=True)
class _Response:
    url: str
    status: int
    text: str  # the body of a 200, else ""
    location: str


def _title_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def deduplicate(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """`rows` without those that repeat an earlier one, and how many were dropped.

    The same product: the same canonical URL, sku (on the same host), GTIN, or brand and title up to case
    and punctuation; or the same image, which would index the same picture twice.
    """
    kept, seen = [], set()
    for row in rows:
        keys = {("url", row["url"]), ("image", row["image"])}
        if row["sku"]:
            keys.add(("sku", f"{urlsplit(row['url']).netloc} {row['sku']}"))
        if row["gtin"]:
            keys.add(("gtin", row["gtin"].lstrip("0")))
        if row["brand"]:
            keys.add(("title", f"{_title_key(row['brand'])} | {_title_key(row['title'])}"))
        if keys.isdisjoint(seen):
            kept.append(row)
        seen |= keys
    return kept, len(rows) - len(kept)


class _Crawler:
    def __init__(self, session: aiohttp.ClientSession, resolver: PublicResolver | None, *, per_host_delay_s: float,
                 retries: int, backoff_s: float, max_bytes: int, max_urls: int, concurrency: int,
                 progress: Callable[[int, int], None] | None) -> None:
        self.session, self.resolver = session, resolver
        self.per_host_delay_s, self.retries, self.backoff_s = per_host_delay_s, retries, backoff_s
        self.max_bytes, self.max_urls, self.progress = max_bytes, max_urls, progress
        self.slots = asyncio.Semaphore(concurrency)  # taken before a request, so no request waits on the pool
        self.sites: dict[str, _Site] = {}
        self.address_checks: dict[str, asyncio.Task[str | None]] = {}
        self.order: dict[str, int] = {}  # every URL queued, in discovery order
        self.found: list[tuple[int, list[dict[str, Any]]]] = []
        self.report = CrawlReport()
        self.done = 0

    async def run(self, urls: list[str]) -> CrawlReport:
        start = list(dict.fromkeys(absolute_url(url) or url for url in urls if url.strip()))[: self.max_urls]
        self._queue(start)
        self._progress()
        await asyncio.gather(*(self._visit(url, 0) for url in start))
        rows = [row for _, page in sorted(self.found, key=lambda item: item[0]) for row in page]
        self.report.products, self.report.duplicates = deduplicate(rows)
        self.report.urls = len(self.order)
        self.report.failures.sort(key=lambda failure: self.order.get(failure["url"], -1))  # robots.txt ones first
        return self.report

    def _queue(self, urls: list[str]) -> None:
        for url in urls:
            self.order[url] = len(self.order)

    def _progress(self) -> None:
        if self.progress:
            self.progress(self.done, len(self.order))

    def _fail(self, url: str, reason: str) -> None:
        self.report.failures.append({"url": url, "reason": reason})

    async def _visit(self, url: str, depth: int) -> None:
        children = await self._collect(url, depth)
        self.done += 1
        self._progress()
        await asyncio.gather(*(self._visit(child, depth + 1) for child in children))

    async def _collect(self, url: str, depth: int) -> list[str]:
        """Reads one URL: its products are kept, a sitemap's new URLs returned, a failure reported."""
        try:
            response = await self._fetch(url)
            if response.status != 200:
                raise _Failed(f"HTTP {response.status}")
            head = response.text[:2000]
            if urlsplit(response.url).path.endswith(".xml") or "<urlset" in head or "<sitemapindex" in head:
                return await self._expand(response, depth)
            self.report.pages += 1
            rows = await asyncio.to_thread(extract_products, response.text, response.url)  # keeps the loop free
            if not rows:
                raise _Failed("no product data")
            self.found.append((self.order[url], rows))
        except _Failed as failed:
            self._fail(url, str(failed))
        return []

    async def _expand(self, sitemap: _Response, depth: int) -> list[str]:
        if depth >= MAX_SITEMAP_DEPTH:
            raise _Failed(f"sitemap nested more than {MAX_SITEMAP_DEPTH} deep")
        try:
            locations = await asyncio.to_thread(extract_sitemap, sitemap.text)
        except ValueError as error:
            raise _Failed(f"invalid sitemap: {error}") from None
        self.report.sitemaps += 1
        new = [url for url in dict.fromkeys(absolute_url(loc, sitemap.url) or loc for loc in locations)
               if url not in self.order]
        room = max(0, self.max_urls - len(self.order))
        if len(new) > room:
            self._fail(sitemap.url, f"{len(new) - room} URLs skipped: a crawl is capped at {self.max_urls} URLs")
        self._queue(new[:room])
        return new[:room]

    async def _fetch(self, url: str, obey_robots: bool = True) -> _Response:
        """GET `url`, following redirects; every hop is checked for its address and robots.txt."""
        for _ in range(MAX_REDIRECTS + 1):
            refusal = await self._refusal(url)
            if refusal:
                raise _Failed(refusal)
            if obey_robots and not await self._allowed(url):
                raise _Failed("disallowed by robots.txt")
            response = await self._request(url)
            if response.status not in REDIRECTS or not response.location:
                return response
            url = absolute_url(response.location, url) or response.location
        raise _Failed(f"more than {MAX_REDIRECTS} redirects")

    def _site(self, url: str) -> _Site:
        parts = urlsplit(url)
        return self.sites.setdefault(f"{parts.scheme}://{parts.netloc}", _Site(self.per_host_delay_s))

    async def _refusal(self, url: str) -> str | None:
        if not absolute_url(url):
            return "refused: not an http(s) URL"
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            return "refused: the URL carries credentials"
        if parts.hostname not in self.address_checks:  # the address check once per host
            self.address_checks[parts.hostname] = asyncio.ensure_future(refusal(url, self.resolver))
        return await self.address_checks[parts.hostname]

    async def _allowed(self, url: str) -> bool:
        site = self._site(url)
        async with site.robots_lock:
            if site.robots is None:
                site.robots = await self._read_robots(url)
                site.delay = max(site.delay, min(float(site.robots.crawl_delay(ROBOTS_AGENT) or 0), MAX_CRAWL_DELAY_S))
        return site.robots.can_fetch(ROBOTS_AGENT, url)

    async def _read_robots(self, url: str) -> RobotFileParser:
        robots, robots_url = RobotFileParser(), urljoin(url, "/robots.txt")
        try:
            response = await self._fetch(robots_url, obey_robots=False)
        except _Failed as failed:
            self._fail(robots_url, f"robots.txt unavailable, so nothing on the site is crawled: {failed}")
            robots.disallow_all = True
            return robots
        if response.status == 200:
            robots.parse(response.text.splitlines())
        else:  # 4xx: there are no rules
            robots.allow_all = True
        return robots

    async def _request(self, url: str) -> _Response:
        """One GET without following redirects, retried with backoff on 429, 5xx, timeouts and lost connections."""
        site = self._site(url)
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                async with site.turn(), self.slots, self.session.get(url, allow_redirects=False) as response:
                    if response.status == 429 or response.status >= 500:
                        reason = f"HTTP {response.status}"
                        continue
                    text = await self._read(response) if response.status == 200 else ""
                    return _Response(url, response.status, text, response.headers.get("Location", ""))
            except asyncio.TimeoutError:
                reason = "timed out"
            except ValueError as error:  # aiohttp.InvalidURL, or a host name that cannot be encoded
                raise _Failed(f"invalid URL: {error}") from None
            except aiohttp.ClientError as error:
                reason = f"connection failed: {error}"
        raise _Failed(f"{reason} (after {self.retries} retries)")

    async def _read(self, response: aiohttp.ClientResponse) -> str:
        """The body as text, refused as soon as it is known to be larger than `max_bytes`."""
        too_large = _Failed(f"response larger than {self.max_bytes} bytes")
        if (response.content_length or 0) > self.max_bytes:
            raise too_large
        body = bytearray()
        async for chunk in response.content.iter_chunked(2**16):
            body += chunk
            if len(body) > self.max_bytes:
                raise too_large
        try:
            return body.decode(response.charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            return body.decode("utf-8", errors="replace")


async def crawl(
    urls_or_sitemap: list[str],
    *,
    allow_private: bool = False,
    per_host_delay_s: float = 1.0,
    timeout_s: float = 10.0,
    retries: int = 2,
    backoff_s: float = 0.5,
    max_bytes: int = 5 * 2**20,
    max_urls: int = 50_000,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> CrawlReport:
    """Products from pages and sitemaps (a sitemap's URLs are crawled in turn), and why the others gave none.

    `timeout_s` bounds each request, so a URL takes at most about `timeout_s * (retries + 1)` plus backoff
    and turn-taking. `concurrency` bounds connections across sites; a site never has more than one.
    `progress(done, total)` is called as URLs finish; `total` grows as sitemaps are read.
    """
    resolver = None if allow_private else PublicResolver()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers=HEADERS,
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        crawler = _Crawler(session, resolver, per_host_delay_s=per_host_delay_s, retries=retries,
                           backoff_s=backoff_s, max_bytes=max_bytes, max_urls=max_urls, concurrency=concurrency,
                           progress=progress)
        return await crawler.run(urls_or_sitemap)


def crawl_products(urls_or_sitemap: list[str], *, progress: bool | Callable[[int, int], None] = False,
                   **options: Any) -> CrawlReport:
    """`crawl` for synchronous callers (CLI, Streamlit); `progress=True` shows a tqdm bar."""
    if progress is not True:
        return asyncio.run(crawl(urls_or_sitemap, progress=progress or None, **options))
    with tqdm(desc="crawl", unit="url") as bar:

        def show(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return asyncio.run(crawl(urls_or_sitemap, progress=show, **options))
