"""Browser fixtures: the dashboard as a real Streamlit server on the test services, and Debian's chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from atelier import processes
from atelier.ports import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def running_dashboard(triton, milvus_uri: str, collection: str, work: Path) -> Iterator[str]:
    """The dashboard as a real Streamlit server on these services (`triton`: an EmbeddedTriton, whose model
    repository the dashboard reads, as `atelier up` has it), the optional LLM off: yields its URL."""
    port = free_port()
    env = {"ATELIER_TRITON_URL": triton.grpc_url, "ATELIER_MILVUS_URI": milvus_uri, "ATELIER_COLLECTION": collection,
           "ATELIER_MODEL_REPOSITORY": str(triton.repository), "ATELIER_HOME": str(work / "home"),
           "ATELIER_LLM_URL": ""}
    service = processes.dashboard(port, env, work / "dashboard.log")
    service.start()
    yield f"http://127.0.0.1:{port}"
    service.stop()


@pytest.fixture(scope="module")
def dashboard_url(triton_server, milvus_uri, demo_store, tmp_path_factory):
    yield from running_dashboard(triton_server, milvus_uri, demo_store.collection,
                                 tmp_path_factory.mktemp("dash"))


@pytest.fixture(scope="module")
def trained_dashboard_url(trained_clip, trained_triton, milvus_uri, tmp_path_factory):
    """The dashboard on Triton serving the demo's trained CLIP, with the demo catalog it was trained on ingested."""
    from tests.conftest import ingested

    work = tmp_path_factory.mktemp("trained-dash")
    store = ingested(trained_clip[0], trained_triton.grpc_url, milvus_uri, "trained", work / "rejects.jsonl")
    yield from running_dashboard(trained_triton, milvus_uri, store.collection, work)


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


def screenshot_path(tmp_path: Path, name: str) -> str:
    """Screenshots go to $ATELIER_SCREENSHOTS when set (to look at them), else to the test's tmp folder."""
    return str(Path(os.environ.get("ATELIER_SCREENSHOTS", tmp_path)) / name)


def settle(page: Page, start_ms: int = 2000) -> None:
    """Wait for the rerun that the last interaction started (if it started within `start_ms`) to finish."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    running = page.get_by_test_id("stStatusWidgetRunningIcon")
    try:
        running.wait_for(state="visible", timeout=start_ms)
    except PlaywrightTimeout:
        return
    running.wait_for(state="hidden", timeout=60_000)


def product_titles(page: Page):
    """The product cards' titles (the only bold markdown on the search pages)."""
    return page.locator('[data-testid="stMarkdownContainer"] strong')


def result_titles(page: Page, count: int) -> list[str]:
    """The titles of the first `count` product cards, waiting until that many are shown."""
    titles = product_titles(page)
    titles.nth(count - 1).wait_for(timeout=60_000)
    return [titles.nth(n).inner_text() for n in range(count)]
