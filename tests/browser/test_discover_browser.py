"""The running dashboard in Debian's chromium (Playwright): text, image and combined queries."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from atelier import processes

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def dashboard_url(triton_server, milvus_uri, demo_store, tmp_path_factory):
    port = processes.free_port()
    env = {"ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
           "ATELIER_COLLECTION": demo_store.collection}
    service = processes.dashboard(port, env, tmp_path_factory.mktemp("dash") / "dashboard.log")
    service.start()
    yield f"http://127.0.0.1:{port}"
    service.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make browser` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def result_images(page):
    return page.locator('[data-testid="stImage"] img')


def wait_for_results(page, minimum: int = 5) -> int:
    page.wait_for_function(
        """(minimum) => {
            const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
            return images.filter(i => i.complete && i.naturalWidth > 0).length >= minimum;
        }""", arg=minimum, timeout=60_000)
    return result_images(page).count()


def test_text_image_and_combined_queries_show_product_images(browser, dashboard_url, demo_store, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url)
    text = page.get_by_label("Describe it")
    text.fill("red striped shirt")
    text.press("Enter")
    assert wait_for_results(page, 20) >= 20
    page.get_by_text("score ").first.wait_for()
    page.screenshot(path=str(Path(os.environ.get("ATELIER_SCREENSHOTS", tmp_path)) / "discover-text.png"))

    product = demo_store.client.query(demo_store.collection, filter='id == "demo-000007"', output_fields=["image_uri"])
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(product[0]["image_uri"])
    page.get_by_text("Weighting: text").wait_for(timeout=60_000)  # both given: the slider appears
    assert wait_for_results(page, 20) >= 20

    text.fill("")
    text.press("Enter")
    page.get_by_text("Weighting: text").wait_for(state="detached", timeout=60_000)  # image only now
    first_score = page.get_by_text("score ").first
    expect(first_score).to_have_text(re.compile(r"score 1\.000 · demo-000007"), timeout=60_000)
    page.screenshot(path=str(Path(os.environ.get("ATELIER_SCREENSHOTS", tmp_path)) / "discover-image.png"))

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    uploader.set_input_files(str(corrupt))
    expect(page.get_by_text("image could not be decoded")).to_be_visible(timeout=60_000)
    uploader.set_input_files(product[0]["image_uri"])  # the next good request still succeeds
    expect(page.get_by_text("score ").first).to_have_text(re.compile(r"score 1\.000 · demo-000007"), timeout=60_000)
    page.close()
