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
