"""The Discover and System pages driven by Streamlit's AppTest against the live services."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from atelier.config import REPO_ROOT
from tests.conftest import DEMO_COUNT

pytestmark = pytest.mark.integration


@pytest.fixture
def app(monkeypatch, triton_server, milvus_uri, demo_store) -> AppTest:
    monkeypatch.setenv("ATELIER_TRITON_URL", triton_server.grpc_url)
    monkeypatch.setenv("ATELIER_MILVUS_URI", milvus_uri)
    monkeypatch.setenv("ATELIER_COLLECTION", demo_store.collection)
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    app = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=120)
    app.run()
    assert not app.exception
    return app


def result_captions(app: AppTest) -> list[str]:
    return [c.value for c in app.caption if c.value.startswith("score ")]


def attribute_captions(app: AppTest) -> list[str]:
    return [c.value for c in app.caption if c.value.count(" · ") == 4]


def test_discover_text_query_shows_results(app):
    assert "Type a description" in app.info[0].value
    app.text_input(key="query-text").input("red striped shirt").run()
    assert not app.exception and not app.error
    scores = [float(c.split()[1]) for c in result_captions(app)]
    assert len(scores) == 20 and scores == sorted(scores, reverse=True)


def test_discover_filters_narrow_the_results(app):
    app.text_input(key="query-text").input("a summer outfit").run()
    app.multiselect(key="filter-color").select("sage").run()
    app.slider(key="top-k").set_value(10).run()
    attributes = attribute_captions(app)
    assert len(attributes) == 10
    assert all(" · sage · " in caption for caption in attributes)


def test_discover_find_similar_searches_by_that_products_image(app):
    app.text_input(key="query-text").input("coat").run()
    first_id = result_captions(app)[0].split(" · ")[1]
    app.button(key=f"similar-{first_id}").click().run()
    assert app.slider(key="image-weight").value == 0.5  # text and image: the weighting slider appears
    app.text_input(key="query-text").input("").run()
    assert not app.exception and not app.error
    top = result_captions(app)[0]
    assert top.endswith(first_id) and float(top.split()[1]) > 0.999


def test_system_page_shows_models_and_collection(app):
    app.switch_page("views/system.py").run()
    assert not app.exception and not app.error
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Models ready"] == "4 / 4"
    assert metrics["Products"] == str(DEMO_COUNT)
