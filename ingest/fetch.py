"""Load product images from local paths and http(s) URLs, concurrently, with timeouts and retries.

Each location yields either the image bytes (checked to decode as an image) or a reason it failed.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000


def check_image(data: bytes) -> None:
    """Raise ValueError unless `data` is a readable image within the size limits."""
    if not data:
        raise ValueError("image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"image is larger than {MAX_IMAGE_BYTES // 2**20} MiB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValueError(f"image is {image.width}x{image.height}; at most 40 megapixels")
            image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(f"image is too large: {error}") from error
    except UnidentifiedImageError as error:
        raise ValueError("image could not be decoded: not a PNG, JPEG or WebP image") from error
    except (OSError, SyntaxError) as error:
        raise ValueError(f"image data is truncated or corrupt ({error})") from error


async def _fetch_url(session: aiohttp.ClientSession, url: str, retries: int) -> bytes:
    for attempt in range(retries + 1):
        try:
            async with session.get(url) as response:
                if response.status >= 500 and attempt < retries:
                    raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status} from {url}")
                if (response.content_length or 0) > MAX_IMAGE_BYTES:
                    raise ValueError(f"image is larger than {MAX_IMAGE_BYTES // 2**20} MiB")
                return await response.content.read(MAX_IMAGE_BYTES + 1)
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
            check_image(data)
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
