"""Metric learning on a small demo catalog, then `atelier eval retrieval` on its held-out split."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from training.evaluate import COMPOSED_KINDS, evaluate_retrieval

pytestmark = pytest.mark.integration


def test_trained_model_beats_untrained_and_histogram(trained_clip):
    catalog, checkpoint = trained_clip
    report = evaluate_retrieval(catalog, checkpoint)
    models = report["models"]
    trained, untrained = models["trained"], models["untrained"]
    assert trained["text_to_image"]["recall@5"] >= untrained["text_to_image"]["recall@5"] + 0.3
    assert trained["text_to_image"]["mrr"] > untrained["text_to_image"]["mrr"]
    # What people type: "trousers" and "navy trousers" find the garment, and the colour among it.
    for query_set, attribute in (("garment", "garment"), ("color+garment", "garment"), ("color+garment", "color")):
        ours, chance = (m["text_queries"][query_set]["of_attainable"][attribute] for m in (trained, untrained))
        assert ours >= chance + 0.4, (query_set, attribute, ours, chance)
    for kind in COMPOSED_KINDS:
        composed = {name: m["composed_weighted_sum"][kind]["recall@10"] for name, m in models.items()}
        assert composed["trained"] > composed["untrained"] and composed["trained"] > composed["grey_histogram"], kind
    assert trained["filtered"]["filter_violations"] == 0


def run_eval(what: str, trained_clip, out) -> dict:
    """`atelier eval <what> --json` on the trained fixture, as a user runs it; its one JSON document."""
    catalog, checkpoint = trained_clip
    command = [sys.executable, "-m", "atelier.cli", "eval", what, "--catalog", str(catalog),
               "--checkpoint", str(checkpoint), "--out", str(out), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_eval_cli_prints_one_json_document_and_writes_the_chart(trained_clip, tmp_path):
    report = run_eval("retrieval", trained_clip, tmp_path)
    assert set(report["models"]) == {"grey_histogram", "untrained", "trained"}
    assert (tmp_path / "retrieval.png").stat().st_size > 0
    assert json.loads((tmp_path / "retrieval.json").read_text()) == report


def test_eval_sketch_reports_garment_precision_per_query_kind_and_writes_the_chart(trained_clip, tmp_path):
    from training.sketch_eval import VARIANTS

    report = run_eval("sketch", trained_clip, tmp_path)
    assert report["held_out_products"] == 80 and set(report["models"]) == {"grey_histogram", "untrained", "trained"}
    trained, untrained = report["models"]["trained"], report["models"]["untrained"]
    assert set(trained) == set(VARIANTS) and set(report["models"]["grey_histogram"]) == {"edge map", "hand"}
    for variant in VARIANTS:  # a sketch finds its garment, hand-drawn strokes included; "red" adds the colour
        assert trained[variant]["precision@10"]["garment"] >= untrained[variant]["precision@10"]["garment"] + 0.3
    colour = trained["hand + colour"]["of_attainable"]["color"]
    assert colour >= untrained["hand + colour"]["of_attainable"]["color"] + 0.3
    assert (tmp_path / "sketch.png").stat().st_size > 0


def test_eval_labels_reports_accuracy_against_chance_and_writes_the_chart(trained_clip, tmp_path):
    report = run_eval("labels", trained_clip, tmp_path)
    colour = report["attributes"]["color"]
    assert colour["accuracy"] > colour["chance"] + 0.3  # measured 0.89 against 1/12
    assert report["attributes"]["style"]["note"] == "no ground truth in the demo catalog"
    assert (tmp_path / "labels.png").stat().st_size > 0
