"""`atelier eval labels`: zero-shot labels of the demo catalog through the served CLIP and a trained tiny CLIP."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from atelier.labels import ZeroShotLabeler
from evaluation.labels import (
    DRAWN,
    GROUND_TRUTH,
    NO_GROUND_TRUTH,
    ClipBundleEmbedder,
    evaluate_labels,
    measured_accuracy,
    write_labels_report,
)
from models.clip import load_clip
from tests.conftest import DEMO_COUNT

pytestmark = pytest.mark.integration


def test_labels_of_the_served_clip_are_reported_per_attribute(triton, demo_csv, tmp_path):
    report = evaluate_labels(demo_csv, triton, split="all")
    demo = pd.read_csv(demo_csv)
    assert report["products"] == DEMO_COUNT and report["embedding_model"] == str(triton.embedding_model())
    values = ZeroShotLabeler(triton).values
    for attribute, result in report["attributes"].items():
        assert sum(result["distribution"].values()) == DEMO_COUNT
        assert 0 <= result["mean_confidence"] <= 1
        if attribute in GROUND_TRUTH:  # sleeve and neckline: only the garments the drawer gives them
            with_truth = demo["garment"].isin(list(DRAWN[attribute])).sum() if attribute in DRAWN else DEMO_COUNT
            assert result["evaluated"] == with_truth and 0 <= result["accuracy"] <= 1
            assert result["chance"] == round(1 / len(values[attribute]), 4)
            assert 0 < result["majority"] <= 1 and 0 <= result["unknown_rate"] <= 1
        else:
            assert result["note"] == NO_GROUND_TRUTH and "accuracy" not in result
    json_path, png_path = write_labels_report(report, tmp_path)
    assert json.loads(json_path.read_text()) == report and png_path.stat().st_size > 0


def test_the_in_process_embedder_answers_as_triton_does(triton, demo_csv):
    """So that figures of an unexported checkpoint are those Triton would give once it is exported."""
    local = ClipBundleEmbedder(load_clip("tiny"))
    images = [(demo_csv.parent / f"images/demo-{n:06d}.png").read_bytes() for n in range(1, 9)]
    texts = ["a photo of a red striped shirt", "a product photo of sleeveless clothing"]
    for embed in ("embed_images", "embed_texts"):
        items = images if embed == "embed_images" else texts
        (served, served_model), (ours, our_model) = getattr(triton, embed)(items), getattr(local, embed)(items)
        assert our_model == served_model
        assert np.abs(served - ours).max() < 1e-3


def test_the_trained_tiny_clip_labels_every_measured_attribute_far_above_the_untrained_one(trained_clip):
    catalog, checkpoint = trained_clip
    untrained = evaluate_labels(catalog, ClipBundleEmbedder(load_clip("tiny")))["attributes"]
    report = evaluate_labels(catalog, ClipBundleEmbedder(load_clip("tiny", checkpoint=checkpoint)))
    assert report["split"] == "held-out" and report["products"] == 400
    scored = report["attributes"]
    for attribute in ("garment", "category", "color", "pattern", "sleeve", "neckline"):
        assert scored[attribute]["accuracy"] >= untrained[attribute]["accuracy"] + 0.2, attribute
        assert scored[attribute]["accuracy"] >= scored[attribute]["majority"] + 0.2, attribute
    assert scored["sleeve"]["evaluated"] < 400  # bottoms have no sleeves: they are not scored on them
    assert measured_accuracy(report)["occasion"] is None  # nothing to measure it against: never trusted
