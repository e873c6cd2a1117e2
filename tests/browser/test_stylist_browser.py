"""The Stylist page in Debian's chromium: two turns, an image and five products each; a reload keeps them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot_path, wait_for_results

pytestmark = pytest.mark.browser


def send(page, text: str) -> None:
    box = page.get_by_placeholder("Describe an outfit, ask for a change")
    box.fill(text)
    box.press("Enter")


def test_two_turns_show_images_and_products_and_survive_a_reload(browser, dashboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{dashboard_url}/stylist?profile=browser-test")
    send(page, "a breezy linen outfit for a beach wedding")
    expect(page.get_by_text("score ")).to_have_count(5, timeout=120_000)
    assert wait_for_results(page, 6) >= 6  # the generated outfit and five product images
    expect(page.get_by_text("Prompt: a linen outfit for a beach wedding")).to_be_visible()

    send(page, "make the shirt sage green")
    expect(page.get_by_text("score ")).to_have_count(10, timeout=120_000)
    assert wait_for_results(page, 12) >= 12
    expect(page.get_by_text("Edited: “make the shirt sage green”")).to_be_visible()
    page.screenshot(path=screenshot_path(tmp_path, "stylist.png"), full_page=True)
    assert "conversation=" in page.url

    page.reload()
    expect(page.get_by_text("score ")).to_have_count(10, timeout=60_000)
    assert wait_for_results(page, 12) >= 12
    expect(page.get_by_text("make the shirt sage green", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="a breezy linen outfit for a beach wedding")).to_be_visible()
    page.close()


def test_filters_show_as_chips_that_drop_them_and_going_back_says_they_still_apply(browser, dashboard_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{dashboard_url}/stylist?profile=browser-chips")
    send(page, "a red dress for a cocktail party")
    expect(page.get_by_text("score ")).to_have_count(5, timeout=120_000)
    send(page, "only show tops under 60")
    expect(page.get_by_role("button", name="category: tops")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="max price: 60.0")).to_be_visible()

    send(page, "go back to the first one")
    expect(page.get_by_text("Back to look 1; the products are still filtered to tops up to 60")).to_be_visible(
        timeout=120_000)
    page.get_by_role("button", name="category: tops").click()
    expect(page.get_by_text("Dropped the filter category tops")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="category: tops")).to_have_count(0)
    expect(page.get_by_role("button", name="max price: 60.0")).to_be_visible()
    page.close()
