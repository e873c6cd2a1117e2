"""Load product images from local paths and http(s) URLs, concurrently, with timeouts and retries.

Each location yields either the image bytes (checked to decode as an image) or a reason it failed. Where an
image may come from is the caller's `ImageSources`: local files under named folders only, and http(s) URLs of
public hosts only (every redirect checked again) unless private networks are allowed. Catalog rows come from
uploaded files and crawled pages, so a row must not make Atelier read /etc/shadow or fetch the metrics of a
service on the same machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

from atelier.images import MAX_BYTES, decode_image
from ingest.addresses import MAX_REDIRECTS, REDIRECTS, PrivateAddressError, PublicResolver, refusal


class Unusable(str):
    """Why an image could not be used, in words for the person who gave its location (a str, so it reads and
    compares as its message)."""


@dataclass(frozen=True)
class ImageSources:
    """Where images may be read from: files under `roots`; URLs of public hosts, or any with `allow_private`."""

    roots: tuple[Path, ...]
    allow_private: bool = False

    @classmethod
    def under(cls, roots: Sequence[Path | str], allow_private: bool = False) -> ImageSources:
        return cls(tuple(Path(root).resolve() for root in roots), allow_private)

    def file(self, location: str) -> Path:
        """The file `location` names, refused outside the roots (before anything tells whether it exists)."""
        path = Path(location).resolve()
        if not any(path.is_relative_to(root) for root in self.roots):
            folders = ", ".join(str(root) for root in self.roots) or "none"
            raise ValueError(f"image file {location} is outside the folders images are read from ({folders})")
        if not path.is_file():
            raise ValueError(f"image file {location} does not exist")
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"image file {location} is larger than {MAX_BYTES // 2**20} MiB")
        return path


# Locations read back from the catalog or trends collection: they were checked against the ingest's sources when
# their rows were stored.
STORED = ImageSources((Path("/"),), allow_private=True)


async def _fetch_url(session: aiohttp.ClientSession, resolver: PublicResolver | None, url: str,
                     retries: int) -> bytes:
    for attempt in range(retries + 1):
        try:
            return await _follow(session, resolver, url)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            if isinstance(error, aiohttp.ClientConnectorError) and isinstance(error.os_error, PrivateAddressError):
                raise ValueError(f"refused: {url} leads to a private address") from error
            if attempt == retries:
                raise ValueError(f"cannot fetch {url}: {error.__class__.__name__} {error}".strip()) from error
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


async def _follow(session: aiohttp.ClientSession, resolver: PublicResolver | None, url: str) -> bytes:
    """The body at `url`, following redirects and checking every address on the way."""
    first = url
    for _ in range(MAX_REDIRECTS + 1):
        if reason := await refusal(url, resolver):
            raise ValueError(f"{reason}: {url}" if url == first else f"{reason}: {first} redirects to {url}")
        async with session.get(url, allow_redirects=False) as response:
            if response.status in REDIRECTS:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status >= 500:
                raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
            if response.status != 200:
                raise ValueError(f"HTTP {response.status} from {url}")
            if (response.content_length or 0) > MAX_BYTES:
                raise ValueError(f"image is larger than {MAX_BYTES // 2**20} MiB")
            return await response.content.read(MAX_BYTES + 1)
    raise ValueError(f"more than {MAX_REDIRECTS} redirects from {first}")


async def _load_one(session: aiohttp.ClientSession, resolver: PublicResolver | None, limit: asyncio.Semaphore,
                    location: str, sources: ImageSources, retries: int, check: bool) -> bytes | str:
    async with limit:
        try:
            if location.startswith(("http://", "https://")):
                data = await _fetch_url(session, resolver, location, retries)
            else:
                data = await asyncio.to_thread(sources.file(location).read_bytes)
            if check:
                decode_image(data)
            return data
        except ValueError as error:
            return Unusable(error)


async def _load_all(locations: list[str], sources: ImageSources, concurrency: int, timeout_s: float,
                    retries: int, check: bool) -> list[bytes | Unusable]:
    limit = asyncio.Semaphore(concurrency)
    resolver = None if sources.allow_private else PublicResolver()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver),
                                     timeout=aiohttp.ClientTimeout(total=timeout_s),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        return await asyncio.gather(*(_load_one(session, resolver, limit, location, sources, retries, check)
                                      for location in locations))


def load_images(locations: list[str], sources: ImageSources, concurrency: int = 16, timeout_s: float = 20.0,
                retries: int = 2, check: bool = True) -> list[bytes | Unusable]:
    """For each location, the image bytes or why it could not be used; with `check`, bytes that do not decode
    as an image are refused here (a caller that decodes them anyway passes False and refuses them itself)."""
    return asyncio.run(_load_all(locations, sources, concurrency, timeout_s, retries, check))
