"""Load product images from local paths and http(s) URLs, concurrently, with timeouts and retries.

Each location yields either the image bytes (checked to decode as an image) or a reason it failed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from atelier.images import MAX_BYTES, decode_image


async def _fetch_url(session: aiohttp.ClientSession, url: str, retries: int) -> bytes:
    for attempt in range(retries + 1):
        try:
            async with session.get(url) as response:
                if response.status >= 500 and attempt < retries:
                    raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status} from {url}")
                if (response.content_length or 0) > MAX_BYTES:
                    raise ValueError(f"image is larger than {MAX_BYTES // 2**20} MiB")
                return await response.content.read(MAX_BYTES + 1)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            if attempt == retries:
                raise ValueError(f"cannot fetch {url}: {error.__class__.__name__} {error}".strip()) from error
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


async def _load_one(session: aiohttp.ClientSession, limit: asyncio.Semaphore, location: str,
                    retries: int) -> bytes | str:
    async with limit:
        try:
            if location.startswith(("http://", "https://")):
                data = await _fetch_url(session, location, retries)
            else:
                path = Path(location)
                if not path.is_file():
                    raise ValueError(f"image file {location} does not exist")
                data = await asyncio.to_thread(path.read_bytes)
            decode_image(data)
            return data
        except ValueError as error:
            return str(error)


async def _load_all(locations: list[str], concurrency: int, timeout_s: float, retries: int) -> list[bytes | str]:
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await asyncio.gather(*(_load_one(session, limit, loc, retries) for loc in locations))


def load_images(locations: list[str], concurrency: int = 16, timeout_s: float = 20.0,
                retries: int = 2) -> list[bytes | str]:
    """For each location, the image bytes or (as a str) why it could not be used."""
    return asyncio.run(_load_all(locations, concurrency, timeout_s, retries))
