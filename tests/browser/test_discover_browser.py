"""The running dashboard in Debian's chromium (Playwright): text, image and combined queries."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot_path, wait_for_results

pytestmark = pytest.mark.browser


def test_text_image_and_combined_queries_show_product_images(browser, dashboard_url, demo_store, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url)
    text = page.get_by_label("Describe it")
    text.fill("red striped shirt")
    text.press("Enter")
    assert wait_for_results(page, 20) >= 20
    page.get_by_text("score ").first.wait_for()
    page.screenshot(path=screenshot_path(tmp_path, "discover-text.png"))

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
    page.screenshot(path=screenshot_path(tmp_path, "discover-image.png"))

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    uploader.set_input_files(str(corrupt))
    expect(page.get_by_text("image could not be decoded")).to_be_visible(timeout=60_000)
    uploader.set_input_files(product[0]["image_uri"])  # the next good request still succeeds
    expect(page.get_by_text("score ").first).to_have_text(re.compile(r"score 1\.000 · demo-000007"), timeout=60_000)
    page.close()
