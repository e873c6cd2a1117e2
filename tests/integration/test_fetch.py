"""Image fetching over real HTTP on loopback: success, retries on 5xx, 404, timeouts, non-images; the guard on
private addresses, redirects and local folders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

from atelier.images import MAX_BYTES, png_bytes
from export.parity import sample_images
from ingest.fetch import ImageSources, load_images
from tests.http_server import serving

pytestmark = pytest.mark.integration
PNG = png_bytes(sample_images()[0])
LOOPBACK = ImageSources.under([], allow_private=True)  # the test server is on loopback


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
        if name == "to-loopback.png":
            raise web.HTTPFound(f"http://localhost:{request.url.port}/ok.png")  # 127.0.0.1 and ::1
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
    results = load_images([f"{base}/{n}" for n in names], LOOPBACK, timeout_s=1.0, retries=2)
    outcome = dict(zip(names, results))
    assert outcome["ok.png"] == PNG
    assert outcome["flaky.png"] == PNG and calls["flaky.png"] == 3  # two 503s, then success
    assert outcome["missing.png"] == f"HTTP 404 from {base}/missing.png" and calls["missing.png"] == 1
    assert outcome["text.png"] == "image could not be decoded: not a PNG, JPEG or WebP image"
    assert outcome["slow.png"].startswith(f"cannot fetch {base}/slow.png: TimeoutError")
    assert calls["slow.png"] == 3  # timed out on every attempt


def test_local_files(tmp_path):
    (tmp_path / "a.png").write_bytes(PNG)
    good, missing = load_images([str(tmp_path / "a.png"), str(tmp_path / "b.png")], ImageSources.under([tmp_path]))
    assert good == PNG and missing == f"image file {tmp_path / 'b.png'} does not exist"


def test_files_outside_the_named_folders_are_refused_without_saying_whether_they_exist(tmp_path):
    inside, outside = tmp_path / "catalog", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    (outside / "a.png").write_bytes(PNG)
    sources = ImageSources.under([inside])
    there, absent, climbing = load_images([str(outside / "a.png"), str(outside / "b.png"),
                                           str(inside / ".." / "elsewhere" / "a.png")], sources)
    assert there == f"image file {outside / 'a.png'} is outside the folders images are read from ({inside})"
    assert absent == f"image file {outside / 'b.png'} is outside the folders images are read from ({inside})"
    assert climbing.endswith(f"is outside the folders images are read from ({inside})")
    (inside / "link.png").symlink_to(outside / "a.png")
    assert "is outside the folders" in load_images([str(inside / "link.png")], sources)[0]


def test_a_file_larger_than_the_cap_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.png"
    with big.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: nothing is written, and a read would take the whole size
    assert load_images([str(big)], ImageSources.under([tmp_path])) == [
        f"image file {big} is larger than {MAX_BYTES // 2**20} MiB"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.0.0.1", "169.254.169.254", "0.0.0.0",
                                  "[::ffff:127.0.0.1]"])
def test_private_addresses_are_refused_unless_allowed(server, host):
    base, calls = server
    port = base.rsplit(":", 1)[1]
    before = calls.get("ok.png", 0)
    url = f"http://{host}:{port}/ok.png"
    assert load_images([url], ImageSources.under([]), timeout_s=1.0, retries=0) == [
        f"refused: private address: {url}"]
    assert calls.get("ok.png", 0) == before  # refused before any request


def test_every_redirect_is_checked_again(server, monkeypatch):
    base, calls = server
    assert load_images([f"{base}/to-loopback.png"], LOOPBACK) == [PNG]  # followed where private hosts are allowed
    before = calls["ok.png"]
    # Take this server's 127.0.0.1 as a public shop; its redirect to localhost (::1 too) must still be refused.
    monkeypatch.setattr("ingest.addresses.is_public", lambda address: address == "127.0.0.1")
    refused = load_images([f"{base}/to-loopback.png"], ImageSources.under([]), retries=0)[0]
    assert refused.startswith(f"refused: private address: {base}/to-loopback.png redirects to http://localhost:")
    assert calls["ok.png"] == before
