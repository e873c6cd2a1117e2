"""Metric learning on a small demo catalog, then `atelier eval retrieval` on its held-out split."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from training.evaluate import evaluate_retrieval

pytestmark = pytest.mark.integration


def test_trained_model_beats_untrained_and_histogram(trained_clip):
    catalog, checkpoint = trained_clip
    report = evaluate_retrieval(catalog, checkpoint)
    models = report["models"]
    trained_t2i, untrained_t2i = models["trained"]["text_to_image"], models["untrained"]["text_to_image"]
    assert trained_t2i["recall@5"] >= untrained_t2i["recall@5"] + 0.3
    assert trained_t2i["mrr"] > untrained_t2i["mrr"]
    composed = {name: m["composed_weighted_sum"]["recall@10"] for name, m in models.items()}
    assert composed["trained"] > composed["untrained"] and composed["trained"] > composed["grey_histogram"]
    assert models["trained"]["filtered"]["filter_violations"] == 0


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


def test_eval_sketch_reports_recall_per_variant_and_writes_the_chart(trained_clip, tmp_path):
    from training.sketch_eval import VARIANTS

    report = run_eval("sketch", trained_clip, tmp_path)
    assert report["held_out_products"] == 80 and set(report["variants"]) == set(VARIANTS)
    for levels in report["variants"].values():
        for metrics in levels.values():
            assert 0 <= metrics["recall@1"] <= metrics["recall@5"] <= metrics["recall@10"] <= 1
    variants = report["variants"]
    # A sketch has no colour; its caption does, so the seed approach finds the very product far more often.
    assert variants["raw + caption"]["product"]["recall@10"] > variants["raw"]["product"]["recall@10"] + 0.2
    assert (tmp_path / "sketch.png").stat().st_size > 0


def test_eval_labels_reports_accuracy_against_chance_and_writes_the_chart(trained_clip, tmp_path):
    report = run_eval("labels", trained_clip, tmp_path)
    colour = report["attributes"]["color"]
    assert colour["accuracy"] > colour["chance"] + 0.3  # measured 0.89 against 1/12
    assert report["attributes"]["style"]["note"] == "no ground truth in the demo catalog"
    assert (tmp_path / "labels.png").stat().st_size > 0
