"""The demo's CLIP (trained as `make demo` trains it), then `atelier eval retrieval|sketch|labels` on its
held-out split, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.retrieval import COMPOSED_KINDS

pytestmark = pytest.mark.integration


def run_eval(what: str, trained_clip, out) -> dict:
    """`atelier eval <what> --json` on the trained fixture, as a user runs it; its one JSON document."""
    catalog, checkpoint = trained_clip
    command = [sys.executable, "-m", "cli", "eval", what, "--catalog", str(catalog),
               "--checkpoint", str(checkpoint), "--out", str(out), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def retrieval(trained_clip, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("retrieval")
    return run_eval("retrieval", trained_clip, out), out


def test_eval_cli_prints_one_json_document_and_writes_the_chart(retrieval):
    report, out = retrieval
    assert set(report["models"]) == {"grey_histogram", "untrained", "trained"} and report["held_out_products"] == 400
    assert (out / "retrieval.png").stat().st_size > 0
    assert json.loads((out / "retrieval.json").read_text()) == report


def test_typed_queries_find_the_garment_first_then_the_colour(retrieval):
    """"trousers", "navy trousers": the acceptance bars of docs/retrieval.md, on the model `make demo` trains."""
    models = retrieval[0]["models"]
    trained, untrained = models["trained"]["text_queries"], models["untrained"]["text_queries"]
    for query_set, attribute in (("garment", "garment"), ("color+garment", "garment"), ("color+garment", "color")):
        ours, chance = trained[query_set]["of_attainable"][attribute], untrained[query_set]["of_attainable"][attribute]
        assert ours >= 0.9 and ours >= chance + 0.5, (query_set, attribute, ours, chance)
    assert trained["category"]["precision@10"]["category"] >= 0.9  # "tops"


def test_composed_queries_change_what_the_words_say_and_keep_the_rest(retrieval):
    models = retrieval[0]["models"]
    for key in ("composed_weighted_sum", "composed_at_dashboard_default"):
        assert models["trained"][key]["other colour"]["recall@10"] >= 0.7  # "in black"
        assert models["trained"][key]["other garment"]["recall@10"] >= 0.7  # "as a dress"
    for kind in COMPOSED_KINDS:
        composed = {name: m["composed_weighted_sum"][kind]["recall@10"] for name, m in models.items()}
        assert composed["trained"] >= max(composed["untrained"], composed["grey_histogram"]) + 0.3, kind


def test_complete_descriptions_images_and_filters_beat_the_baselines(retrieval):
    models = retrieval[0]["models"]
    trained, untrained = models["trained"], models["untrained"]
    assert trained["text_to_image"]["recall@5"] >= untrained["text_to_image"]["recall@5"] + 0.5
    assert trained["image_to_image"]["recall@5"] > untrained["image_to_image"]["recall@5"]
    assert trained["image_to_image"]["recall@5"] > models["grey_histogram"]["image_to_image"]["recall@5"]
    assert trained["filtered"]["filter_violations"] == 0


def test_eval_sketch_finds_the_drawn_garment_and_the_colour_words_add(trained_clip, tmp_path):
    from evaluation.sketch import VARIANTS

    report = run_eval("sketch", trained_clip, tmp_path)
    assert report["held_out_products"] == 400 and set(report["models"]) == {"grey_histogram", "untrained", "trained"}
    trained, untrained = report["models"]["trained"], report["models"]["untrained"]
    assert set(trained) == set(VARIANTS) and set(report["models"]["grey_histogram"]) == {"edge map", "hand"}
    assert trained["hand"]["precision@10"]["garment"] >= 0.8  # strokes drawn like a hand, never seen in training
    assert trained["edge map"]["precision@10"]["garment"] >= 0.8
    for variant in VARIANTS:
        assert trained[variant]["precision@10"]["garment"] >= untrained[variant]["precision@10"]["garment"] + 0.4
    assert trained["hand + colour"]["of_attainable"]["color"] >= 0.8  # "red" with the drawing: red ones of it
    assert (tmp_path / "sketch.png").stat().st_size > 0


def test_eval_labels_reports_accuracy_against_chance_and_writes_the_chart(trained_clip, tmp_path):
    report = run_eval("labels", trained_clip, tmp_path)
    scored = report["attributes"]
    bars = {"garment": 0.9, "category": 0.95, "color": 0.95, "sleeve": 0.85, "neckline": 0.85}  # docs/labels.md
    accuracy = {attribute: scored[attribute]["accuracy"] for attribute in bars}
    assert all(accuracy[attribute] >= bar for attribute, bar in bars.items()), accuracy
    assert scored["style"]["note"] == "no ground truth in the demo catalog"
    assert (tmp_path / "labels.png").stat().st_size > 0
