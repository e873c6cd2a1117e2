"""Image fetching over real HTTP on loopback: success, retries on 5xx, 404, timeouts, non-images."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

from atelier.images import png_bytes
from export.parity import sample_images
from ingest.fetch import load_images
from tests.http_server import serving

pytestmark = pytest.mark.integration
PNG = png_bytes(sample_images()[0])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, int]]]:
    calls: dict[str, int] = {}

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        calls[name] = calls.get(name, 0) + 1
        if name == "flaky.png" and calls[name] <= 2:
            return web.Response(status=503)
        if name == "slow.png":
            await asyncio.sleep(3)
        if name == "text.png":
            return web.Response(text="<html>not an image</html>")
        if name in ("ok.png", "flaky.png", "slow.png"):
            return web.Response(body=PNG, content_type="image/png")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    with serving(app) as url:
        yield url, calls


def test_fetch_outcomes(server):
    base, calls = server
    names = ["ok.png", "flaky.png", "missing.png", "text.png", "slow.png"]
    results = load_images([f"{base}/{n}" for n in names], timeout_s=1.0, retries=2)
    outcome = dict(zip(names, results))
    assert outcome["ok.png"] == PNG
    assert outcome["flaky.png"] == PNG and calls["flaky.png"] == 3  # two 503s, then success
    assert outcome["missing.png"] == f"HTTP 404 from {base}/missing.png" and calls["missing.png"] == 1
    assert outcome["text.png"] == "image could not be decoded: not a PNG, JPEG or WebP image"
    assert outcome["slow.png"].startswith(f"cannot fetch {base}/slow.png: TimeoutError")
    assert calls["slow.png"] == 3  # timed out on every attempt


def test_local_files(tmp_path):
    (tmp_path / "a.png").write_bytes(PNG)
    good, missing = load_images([str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    assert good == PNG and missing == f"image file {tmp_path / 'b.png'} does not exist"
