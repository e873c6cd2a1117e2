"""A merchandiser uploads a CSV with its images in the browser; the products are then found by their titles."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from export.parity import sample_images
from tests.browser.conftest import product_titles, running_dashboard, screenshot_path

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def empty_catalog_dashboard_url(triton_server, milvus_uri, tmp_path_factory):
    yield from running_dashboard(triton_server, milvus_uri, "browser_upload", tmp_path_factory.mktemp("upload"))


def test_a_csv_with_its_images_is_ingested_and_its_products_are_found_by_title(browser, empty_catalog_dashboard_url,
                                                                              tmp_path):
    from atelier.images import png_bytes

    shirt, skirt = (png_bytes(image) for image in sample_images()[:2])
    (tmp_path / "images").mkdir()
    (tmp_path / "spring.csv").write_text("id,title,image,brand,price\n"
                                         "up-1,Sage linen shirt,images/shirt.png,Saltmarsh,49.9\n"
                                         "up-2,Navy pleated skirt,images/skirt.png,Saltmarsh,59\n")
    (tmp_path / "shirt.png").write_bytes(shirt)  # picked as loose files: the page puts them where the CSV says
    (tmp_path / "skirt.png").write_bytes(skirt)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{empty_catalog_dashboard_url}/catalog")
    page.get_by_role("tab", name="Add a catalog file").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [str(tmp_path / name) for name in ("spring.csv", "shirt.png", "skirt.png")])
    page.get_by_role("button", name="Ingest", exact=True).click()
    expect(page.get_by_text("2 products added, 0 replaced")).to_be_visible(timeout=120_000)  # where the user acted
    expect(page.get_by_text("0 rejected")).to_be_visible()
    page.screenshot(path=screenshot_path(tmp_path, "catalog-upload.png"), full_page=True)

    page.get_by_role("tab", name="Browse").click()
    page.get_by_label("Find by title, brand or id").fill("pleated")
    page.get_by_label("Find by title, brand or id").press("Enter")
    expect(page.get_by_text("1 of 2 products")).to_be_visible(timeout=60_000)
    # the page may still show the previous run's cards below the new caption until its run ends
    expect(product_titles(page)).to_have_count(1, timeout=60_000)
    assert [title for title in product_titles(page).all_inner_texts() if title] == ["Navy pleated skirt"]
    page.close()
