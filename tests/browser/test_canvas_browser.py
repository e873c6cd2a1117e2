"""Creative Canvas and Sketch in Debian's chromium: real mouse strokes on the real canvas component."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import screenshot_path, settle

pytestmark = pytest.mark.browser


def stroke(page, canvas, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through `points`, given as fractions of the canvas's width and height."""
    box = canvas.bounding_box()
    x, y = (box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.move(x, y)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=8)
    page.mouse.up()


def test_creative_canvas_repaints_only_the_painted_part(browser, dashboard_url, demo_store, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(f"{dashboard_url}/canvas")
    page.get_by_label("Find a product").fill("red striped shirt")
    page.get_by_label("Find a product").press("Enter")
    page.get_by_role("button", name="Use as base").first.click()
    canvas = page.locator("canvas").last
    expect(canvas).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Repaint").click()  # nothing painted yet
    expect(page.get_by_text("nothing is painted: paint over the part to change")).to_be_visible(
        timeout=60_000)
    stroke(page, canvas, [(0.40, 0.40), (0.55, 0.45), (0.60, 0.60)])
    page.get_by_label("Describe the change").fill("embroider a golden dragon here")
    page.get_by_label("Describe the change").press("Enter")
    expect(page.get_by_text("Sent to the model: embroider a golden dragon here, product photo")).to_be_visible()
    page.get_by_role("button", name="Repaint").click()
    expect(page.get_by_text("New design · seed")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("score ")).to_have_count(5, timeout=60_000)
    page.screenshot(path=screenshot_path(tmp_path, "canvas.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download result").click()
    result = np.asarray(Image.open(download.value.path()).convert("RGB"))
    title = page.get_by_text("Base: ").inner_text().split(" · ")[0].removeprefix("Base: ")
    row = demo_store.client.query(demo_store.collection, filter=f'title == "{title}"', output_fields=["image_uri"])
    original = np.asarray(Image.open(row[0]["image_uri"]).convert("RGB"))
    assert result.shape == original.shape
    height, width = original.shape[:2]
    far = np.ones((height, width), bool)  # everything well away from the stroke (0.40-0.60 of each side)
    far[int(0.2 * height) : int(0.8 * height), int(0.2 * width) : int(0.8 * width)] = False
    assert np.array_equal(result[far], original[far])
    assert np.abs(result[int(0.45 * height), int(0.5 * width)].astype(int) - original[
        int(0.45 * height), int(0.5 * width)]).sum() > 0  # and the painted part changed

    page.get_by_role("button", name="Use this result as the new base").click()
    expect(page.get_by_text("Base: edit of")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Undo: back to the previous base").click()
    expect(page.get_by_text(f"Base: {title}")).to_be_visible(timeout=60_000)
    page.close()


def open_sketch_pad(browser, dashboard_url: str):
    """A new page on the Sketch page, once its pad is drawn: (page, the pad's canvas)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{dashboard_url}/sketch")
    canvas = page.locator("canvas").last
    expect(canvas).to_be_visible(timeout=60_000)
    return page, canvas


def test_sketch_pad_finds_products_and_clearing_it_clears_them(browser, dashboard_url, tmp_path):
    page, canvas = open_sketch_pad(browser, dashboard_url)
    stroke(page, canvas, [(0.3, 0.2), (0.7, 0.2), (0.8, 0.4), (0.7, 0.4), (0.7, 0.9), (0.3, 0.9), (0.3, 0.4),
                          (0.2, 0.4), (0.3, 0.2)])
    expect(page.get_by_text("score ")).to_have_count(10, timeout=60_000)
    expect(page.get_by_text("What the search sees")).to_be_visible()
    page.get_by_label("A few words (optional)").fill("with puff sleeves")
    page.get_by_label("A few words (optional)").press("Enter")
    expect(page.get_by_text("How much the words count")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("score ")).to_have_count(10, timeout=60_000)
    page.screenshot(path=screenshot_path(tmp_path, "sketch.png"), full_page=True)
    page.get_by_role("button", name="Reset canvas & history").click()
    expect(page.get_by_text("score ")).to_have_count(0, timeout=60_000)
    expect(page.get_by_text("Draw on the pad")).to_be_visible()
    page.close()


def test_any_discover_result_opens_on_the_creative_canvas(browser, dashboard_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(dashboard_url)
    page.get_by_label("Describe it").fill("navy checked coat")
    page.get_by_label("Describe it").press("Enter")
    title = page.locator('[data-testid="stMarkdownContainer"] strong').first
    expect(title).to_be_visible(timeout=60_000)
    settle(page)  # the search's rerun has drawn every card: the first title and button belong together
    name = title.inner_text()
    page.get_by_role("button", name="Edit on canvas").first.click()
    expect(page.get_by_text(f"Base: {name}")).to_be_visible(timeout=60_000)
    expect(page.locator("canvas").last).to_be_visible()
    page.close()
