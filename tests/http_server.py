"""A real aiohttp server on a free loopback port, in a background thread, for tests of HTTP clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from atelier.ports import free_port


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()  # all in its own thread: the caller's may already run a loop (Playwright's)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app)
    asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(10)
    asyncio.run_coroutine_threadsafe(web.TCPSite(runner, "127.0.0.1", port).start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
