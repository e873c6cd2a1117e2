"""The Discover and System pages driven by Streamlit's AppTest against the live services."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from atelier.catalog_store import search_breadth
from tests.apptest import open_dashboard
from tests.conftest import DEMO_COUNT

pytestmark = pytest.mark.integration


@pytest.fixture
def app(monkeypatch, triton_server, milvus_uri, demo_store) -> AppTest:
    app = open_dashboard(monkeypatch, {"ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
                                       "ATELIER_COLLECTION": demo_store.collection,
                                       "ATELIER_MODEL_REPOSITORY": str(triton_server.repository)}, timeout=120)
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


def test_discover_offers_no_label_the_served_model_is_not_measured_to_read(app, triton):
    assert triton.label_accuracy() == {}  # the suite serves the untrained tiny CLIP: nothing was measured
    app.text_input(key="query-text").input("a summer outfit").run()
    assert not [m for m in app.multiselect if m.key.startswith("filter-label-")]
    assert any(c.value.startswith("Not offered: sleeve, neckline, occasion, style.") for c in app.caption)
    assert not [c for c in app.caption if c.value.startswith("labels: ")]  # and no card shows one


def test_discover_find_similar_searches_by_that_products_image(app):
    app.text_input(key="query-text").input("coat").run()
    first_id = result_captions(app)[0].split(" · ")[1]
    app.button(key=f"similar-{first_id}").click().run()
    assert app.slider(key="image-weight").value == 0.5  # text and image: the weighting slider appears
    app.text_input(key="query-text").input("").run()
    assert not app.exception and not app.error
    top = result_captions(app)[0]
    assert top.endswith(first_id) and float(top.split()[1]) > 0.999


def test_system_page_shows_models_and_collection(app, model_repository):
    app.switch_page("views/system.py").run()
    assert not app.exception and not app.error
    metrics = {m.label: m.value for m in app.metric}
    served = len(list(model_repository.glob("*/config.pbtxt")))
    assert served > 4 and metrics["Models ready"] == f"{served} / {served}"
    assert metrics["Products"] == str(DEMO_COUNT)
    index = next(frame.value for frame in app.dataframe if "search breadth (ef)" in frame.value.columns)
    assert list(index["search breadth (ef)"]) == [search_breadth(DEMO_COUNT)]  # recorded when ingest sealed it
    weights = next(frame.value for frame in app.dataframe if "learned" in frame.value.columns)
    assert list(weights["model"]) == ["txt2img", "edit", "inpaint", "tryon"]
    assert set(weights["learned"]) == {"no: its images are noise"}  # the test repository's tiny random networks


def click(app: AppTest, label: str) -> None:
    next(button for button in app.button if button.label == label).click().run()


def test_generate_page_generates_edits_and_shows_products_after_each(app, triton):
    from atelier.images import png_bytes

    app.switch_page("views/generate.py").run()
    assert "Describe an outfit" in app.info[0].value
    app.text_area(key="prompt").input("a breezy linen outfit for a beach wedding")
    app.slider(key="steps").set_value(3)
    app.number_input(key="generate-seed").set_value(7)
    click(app, "Generate")
    assert not app.exception and not app.error
    looks = app.session_state["looks"]
    expected, _ = triton.generate("txt2img", prompt="a breezy linen outfit for a beach wedding", steps=3,
                                  guidance_scale=5.0, width=256, height=256, seed=7)
    assert len(looks) == 1 and looks[0]["image"] == png_bytes(expected)
    assert any(c.value.startswith("Version 1 · “a breezy linen outfit") and "seed 7 · 256x256" in c.value
               for c in app.caption)
    assert len(result_captions(app)) == 5

    app.text_input(key="instruction").input("make the shirt sage green")
    app.slider(key="edit-steps").set_value(2)
    click(app, "Apply edit")
    assert not app.exception and not app.error
    looks = app.session_state["looks"]
    assert len(looks) == 2 and looks[1]["image"] != looks[0]["image"]
    assert any(c.value.startswith("Version 2 · edit: “make the shirt sage green”") for c in app.caption)
    assert len(result_captions(app)) == 5


def test_generate_page_shows_a_clear_error_and_keeps_the_history(app):
    app.switch_page("views/generate.py").run()
    app.text_area(key="prompt").input("   ")
    click(app, "Generate")
    assert not app.exception
    assert "prompt is empty" in app.error[0].value
    assert app.session_state["looks"] == []


def test_system_page_shows_the_generators_training_side_by_side(monkeypatch, tmp_path, triton_server, milvus_uri,
                                                                demo_store):
    import os

    from atelier.training_progress import TrainingProgress

    progress = TrainingProgress({"vae": 10, "txt2img": 100, "inpaint": 50, "edit": 100}, finished=["vae"],
                                pid=os.getpid())  # a live process: this one
    progress.start("txt2img", 40)
    progress.start("inpaint", 20)
    (tmp_path / "models" / "generators").mkdir(parents=True)
    progress.write(tmp_path / "models" / "generators")
    app = open_dashboard(monkeypatch, {"ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
                                       "ATELIER_COLLECTION": demo_store.collection, "ATELIER_HOME": str(tmp_path),
                                       "ATELIER_MODEL_REPOSITORY": str(triton_server.repository)},
                         page="views/system.py", timeout=120)
    assert not app.exception
    [bar] = [element.proto for element in app.get("progress")]
    assert "training txt2img (step 40 of 100) and inpaint (step 20 of 50), then edit." in bar.text
    assert bar.value == int(100 * (10 + 40 + 20) / 260)  # of all the steps planned
