"""Try-On in Debian's chromium: a sample model, a catalog garment, a painted mask, the result."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import screenshot_path, settle
from tests.browser.test_canvas_browser import stroke
from training.viton_synthetic import synthetic_pair

pytestmark = pytest.mark.browser


def test_tryon_dresses_a_sample_model_in_a_catalog_garment(browser, dashboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.goto(f"{dashboard_url}/tryon")
    expect(page.get_by_text("Choose a garment from the catalog")).to_be_visible(timeout=60_000)
    page.get_by_text("Bo", exact=True).click()
    page.get_by_label("…or find one in the catalog").fill("red striped shirt")
    page.get_by_label("…or find one in the catalog").press("Enter")
    page.get_by_role("button", name="Use this garment").first.click()
    expect(page.get_by_text("Garment: ")).to_be_visible(timeout=60_000)
    canvas = page.locator("canvas").last
    expect(canvas).to_be_visible(timeout=60_000)
    try_on = page.get_by_role("button", name="Try on", exact=True)
    try_on.click()  # nothing painted yet, and the test server has no human parser
    expect(page.get_by_text("Paint over the clothes the garment should replace")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("send it as `mask`")).to_have_count(0)  # a developer's words, not a merchandiser's
    stroke(page, canvas, [(0.35, 0.30), (0.65, 0.30), (0.65, 0.45), (0.35, 0.45), (0.35, 0.60), (0.65, 0.60)])
    settle(page)  # a click while the stroke's own rerun runs is dropped by Streamlit
    try_on.click()
    expect(page.get_by_text("Wearing ")).to_be_visible(timeout=120_000)
    page.screenshot(path=screenshot_path(tmp_path, "tryon.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download result").click()
    result = np.asarray(Image.open(download.value.path()).convert("RGB"))
    person = np.asarray(synthetic_pair(1, (512, 384), seed=0, split="test").person)  # Bo, the page's second
    assert result.shape == person.shape
    height, width = person.shape[:2]
    far = np.ones((height, width), bool)  # well away from the strokes (0.30-0.60 high, 0.35-0.65 wide)
    far[int(0.15 * height) : int(0.75 * height), int(0.2 * width) : int(0.8 * width)] = False
    assert np.array_equal(result[far], person[far])
    assert np.abs(result[int(0.45 * height), int(0.5 * width)].astype(int)
                  - person[int(0.45 * height), int(0.5 * width)]).sum() > 0  # the painted part was redrawn
    page.close()


def test_try_on_from_discover_brings_the_garment(browser, dashboard_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(dashboard_url)
    page.get_by_label("Describe it").fill("a blue dress")
    page.get_by_label("Describe it").press("Enter")
    title = page.locator('[data-testid="stMarkdownContainer"] strong').first
    expect(title).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Try on", exact=True).first.click()
    expect(page.get_by_text("Garment: ")).to_be_visible(timeout=60_000)
    expect(page.locator("canvas").last).to_be_visible()
    page.close()
