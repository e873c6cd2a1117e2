"""Search that reads garments, in Debian's chromium on a dashboard serving the trained tiny CLIP: what a shopper
types on Discover, and a t-shirt drawn with the mouse on the Sketch pad."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import product_titles, result_titles, screenshot_path
from tests.browser.test_canvas_browser import open_sketch_pad, stroke

pytestmark = pytest.mark.browser

T_SHIRT = [(0.40, 0.25), (0.50, 0.30), (0.60, 0.25), (0.72, 0.29), (0.86, 0.43), (0.77, 0.52), (0.68, 0.45),
           (0.68, 0.86), (0.33, 0.87), (0.33, 0.45), (0.24, 0.52), (0.15, 0.42), (0.28, 0.29), (0.40, 0.25)]


def test_navy_trousers_on_discover_shows_trousers_first(browser, trained_dashboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(trained_dashboard_url)
    text = page.get_by_label("Describe it")
    text.fill("navy trousers")
    text.press("Enter")
    titles = result_titles(page, 10)
    page.screenshot(path=screenshot_path(tmp_path, "navy-trousers.png"), full_page=True)
    assert all(title.endswith("trousers") for title in titles[:5]), titles
    assert "navy" in titles[0], titles

    # The served model's label accuracy was measured at export: the measured labels are offered, the rest not.
    page.get_by_text("Fashion labels (zero-shot)").click()
    expect(page.get_by_text("Not offered: occasion, style.")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Sleeve", exact=True)).to_be_visible()
    page.close()


def test_a_t_shirt_drawn_on_the_sketch_pad_finds_t_shirts_first(browser, trained_dashboard_url, tmp_path):
    page, canvas = open_sketch_pad(browser, trained_dashboard_url)
    # Off-centre and a little small, as people draw: the neck, one sleeve, the body, the other sleeve.
    stroke(page, canvas, [(0.8 * x, 0.8 * y + 0.1) for x, y in T_SHIRT])
    expect(page.get_by_text("What the search sees")).to_be_visible(timeout=60_000)
    titles = result_titles(page, 10)
    page.screenshot(path=screenshot_path(tmp_path, "sketch-t-shirt.png"), full_page=True)
    assert all(title.endswith("t-shirt") for title in titles[:5]), titles

    page.get_by_label("A few words (optional)").fill("red")
    page.get_by_label("A few words (optional)").press("Enter")
    expect(page.get_by_text("How much the words count")).to_be_visible(timeout=60_000)
    expect(product_titles(page).first).to_have_text(re.compile(r" red .*t-shirt$"), timeout=60_000)
    titles = result_titles(page, 10)
    page.screenshot(path=screenshot_path(tmp_path, "sketch-t-shirt-red.png"), full_page=True)
    assert all(" red " in title or title.endswith("t-shirt") for title in titles[:5]), titles
    page.close()
