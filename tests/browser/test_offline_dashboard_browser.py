"""The dashboard is a product, not a dev server: every page loads from this machine alone (nothing fetched from
the internet, the tab icon included), no Deploy button, and the uploaders state the real size limit."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser
PAGES = ("discover", "stylist", "generate", "canvas", "sketch", "tryon", "trends", "catalog", "system")


def test_every_page_loads_from_this_machine_alone_without_dev_server_chrome(browser, dashboard_url):
    page = browser.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or "")
            if urlparse(request.url).scheme in ("http", "https", "ws", "wss") else None)  # not data: or blob:
    for name in PAGES:
        page.goto(f"{dashboard_url}/{name}")
        page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=60_000)
        page.wait_for_load_state("networkidle")
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0, name
    assert hosts and hosts <= {"127.0.0.1", "localhost"}, hosts
    page.goto(f"{dashboard_url}/catalog")
    page.wait_for_selector('[data-testid="stFileUploaderDropzoneInstructions"]', state="attached", timeout=60_000)
    limits = page.locator('[data-testid="stFileUploaderDropzoneInstructions"]').all_text_contents()  # in a tab
    assert limits and all("25MB" in text for text in limits), limits
    page.close()


def test_pages_that_generate_say_when_the_networks_have_random_weights(browser, dashboard_url):
    page = browser.new_page()
    for name, model in (("generate", "Text-to-image"), ("stylist", "Instruction editing"),
                        ("canvas", "Inpainting"), ("tryon", "Try-on")):
        page.goto(f"{dashboard_url}/{name}")
        notice = page.get_by_text(f"{model}: tiny network, random weights")
        notice.wait_for(timeout=60_000)
        assert "is noise, not a design" in notice.inner_text()
    page.goto(f"{dashboard_url}/system")
    page.get_by_text("Weights of the generation models").wait_for(timeout=60_000)
    page.close()
