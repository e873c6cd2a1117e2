"""The Stylist in Debian's chromium on the generators `make demo` trained: a turn for a colour and a garment, then
an edit, each shows products of the asked colour and garment under the image.

Run with `pytest --demo-home .atelier -m trained_generators` after `make demo` has trained them (the README's
figures); without --demo-home these tests are deselected (tests/conftest.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from atelier.config import AtelierError
from atelier.ports import free_port
from atelier.triton_server import EmbeddedTriton, TritonPorts
from tests.browser.conftest import running_dashboard, screenshot_path, wait_for_results
from tests.browser.test_stylist_browser import send
from tests.conftest import copy_repository, ingested

pytestmark = [pytest.mark.browser, pytest.mark.trained_generators]
SERVED = ("txt2img", "edit")
MATCHING = 3  # of the five products, as `atelier eval generation` asks of txt2img


@pytest.fixture(scope="module")
def demo_dashboard_url(request, milvus_uri, tmp_path_factory):
    """The dashboard on Triton serving what `make demo` trained in --demo-home: its CLIP, txt2img and edit, with
    the demo catalog they were trained on ingested."""
    from cli.stack import export_measured_clip
    from export.diffusion import export_pipelines
    from models.clip import load_clip
    from training.clip_metric import TrainConfig, train_clip
    from training.train_generators import trained_folders

    home = Path(request.config.getoption("--demo-home"))
    catalog = home / "demo-catalog" / "catalog.csv"
    folders = trained_folders(home / "models" / "generators", SERVED)
    if not catalog.exists() or len(folders) < len(SERVED):
        raise AtelierError(f"{home} holds no demo catalog or trained {' and '.join(SERVED)}: run `make demo` first")
    checkpoint = train_clip(catalog, home / "models" / "clip-demo-catalog", TrainConfig(), progress=False)  # cached
    work = tmp_path_factory.mktemp("demo-dash")
    repository = copy_repository(work / "model_repository")
    for folder in repository.iterdir():  # only what the Stylist calls
        if folder.is_dir() and not folder.name.startswith(("clip_", "sdxl_", "pix2pix_", *SERVED)):
            shutil.rmtree(folder)
    export_measured_clip(load_clip("tiny", checkpoint=checkpoint), repository, catalog)
    export_pipelines(repository, "tiny", SERVED, {kind: str(folders[kind]) for kind in SERVED})
    server = EmbeddedTriton(repository, work / "runtime", TritonPorts(free_port(), free_port(), free_port()))
    server.start()
    store = ingested(catalog, server.grpc_url, milvus_uri, "demo-trained", work / "rejects.jsonl")
    yield from running_dashboard(server, milvus_uri, store.collection, work)
    server.stop()


def newest_products(page) -> list[str]:
    """The titles ("Saltmarsh red polka dot dress") of the five product cards under the newest answer."""
    titles = page.locator('[data-testid="stChatMessage"]').last.locator('[data-testid="stMarkdownContainer"] strong')
    expect(titles).to_have_count(5, timeout=120_000)
    return [titles.nth(n).inner_text() for n in range(5)]


@pytest.mark.parametrize(("ask", "colour", "garment", "edit", "edited_colour"),
                         [("a red polka-dot dress", "red", "dress", "make it navy", "navy")])
def test_a_turn_and_an_edit_show_products_of_the_asked_colour_and_garment(browser, demo_dashboard_url, tmp_path, ask,
                                                                         colour, garment, edit, edited_colour):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{demo_dashboard_url}/stylist?profile=trained-browser-test")
    send(page, ask)
    expect(page.get_by_text("score ")).to_have_count(5, timeout=180_000)
    assert wait_for_results(page, 6) >= 6
    expect(page.get_by_text("the catalog products most like it")).to_be_visible()
    first = newest_products(page)
    page.screenshot(path=screenshot_path(tmp_path, "trained-stylist.png"), full_page=True)
    assert sum(f" {colour} " in f" {t.lower()} " and garment in t.lower() for t in first) >= MATCHING, first

    send(page, edit)
    expect(page.get_by_text("score ")).to_have_count(10, timeout=180_000)
    expect(page.get_by_text(f"Edited: “{edit}”")).to_be_visible()
    edited = newest_products(page)
    page.screenshot(path=screenshot_path(tmp_path, "trained-stylist-edit.png"), full_page=True)
    assert sum(f" {edited_colour} " in f" {t.lower()} " and garment in t.lower() for t in edited) >= MATCHING, edited
    page.close()
