"""The Generate page in Debian's chromium: generate, see products, edit, download."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot_path, wait_for_results

pytestmark = pytest.mark.browser


def test_generate_then_edit_shows_the_image_and_five_products_each_time(browser, dashboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{dashboard_url}/generate")
    page.get_by_label("Prompt", exact=True).fill("a breezy linen outfit for a beach wedding")
    page.get_by_role("spinbutton", name="Seed").first.fill("7")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("Version 1 · “a breezy linen outfit")).to_be_visible(timeout=120_000)
    assert wait_for_results(page, 6) >= 6  # the generated image and five products
    expect(page.get_by_text("score ")).to_have_count(5)
    first = downloaded(page, page.get_by_role("button", name="Download PNG"))
    page.screenshot(path=screenshot_path(tmp_path, "generate.png"), full_page=True)

    page.get_by_label("Instruction").fill("make the shirt sage green")
    page.get_by_role("button", name="Apply edit").click()
    expect(page.get_by_text("Version 2 · edit: “make the shirt sage green”")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("score ")).to_have_count(5)
    page.get_by_text("Earlier versions (1)").click()
    assert wait_for_results(page, 7) >= 7  # version 1 is kept in the history
    page.screenshot(path=screenshot_path(tmp_path, "generate-edit.png"), full_page=True)
    assert downloaded(page, page.get_by_role("button", name="Download", exact=True)) == first

    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("Version 3 · version 1 restored")).to_be_visible(timeout=60_000)
    assert downloaded(page, page.get_by_role("button", name="Download PNG")) == first  # edits now apply to it
    page.close()


def downloaded(page, button) -> bytes:
    with page.expect_download() as download:
        button.click()
    with open(download.value.path(), "rb") as file:
        return file.read()
