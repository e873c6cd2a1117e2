"""Sketch search on a catalog's held-out split: `atelier eval sketch`.

The gallery is the held-out photos. Each held-out product gives queries of three kinds, each prepared as the
sketch pad's drawings are (`atelier.sketch.preprocess_sketch`: crop to the ink, centre, stroke width):

- edge map: the photo's own edges (`atelier.sketch.pseudo_sketch`);
- hand: the product's garment drawn like a person draws with a mouse (`atelier.demo_sketches.hand_sketch`:
  wobbly, gapped strokes of any width, off-centre at any size). Training never sees these strokes: it draws
  straight outlines and edge maps;
- hand + colour: the hand drawing with the product's colour word ("red"), fused as the Sketch page fuses
  them where its slider starts (`atelier.sketch.WORDS_WEIGHT` for the words).

A sketch shows a shape, so a hit is the same garment: precision@10 is the share of the top 10 of the query's
garment (and, with a colour word, the share of its colour, against the share the best ranking could reach,
as in `evaluation.retrieval`). Models in the same run: the trained model, optionally a baseline checkpoint, the
untrained model and the grey-level histogram (images only).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from atelier.demo_sketches import hand_sketch
from atelier.plots import saved_figure
from atelier.sketch import WORDS_WEIGHT, preprocess_sketch, pseudo_sketch
from evaluation.retrieval import TOP_K, ClipEmbedder, HistogramEmbedder, Split, _order, _precision, precision_report
from models.clip import load_clip
from training.clip_metric import split_catalog

VARIANTS = ("edge map", "hand", "hand + colour")
TOP_CONFUSIONS = 5


def _normalize(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _scores(orders: np.ndarray, frame: pd.DataFrame, named: tuple[str, ...]) -> dict[str, Any]:
    """Precision@10 per named attribute, and the garments most often taken for another at the top."""
    garments = frame["garment"].to_numpy()
    confusions = Counter((t, p) for t, p in zip(garments, garments[orders[:, 0]]) if t != p).most_common(TOP_CONFUSIONS)
    return {**precision_report([_precision(order, frame, {a: row[a] for a in named})
                                for order, (_, row) in zip(orders, frame.iterrows())]),
            "top_confusions": [{"drawn": t, "first_result": p, "count": n} for (t, p), n in confusions]}


def evaluate_embedder(embedder: Any, held_out: Split, seed: int) -> dict[str, Any]:
    frame = held_out.frame
    rng = random.Random(seed)
    edge_maps = [preprocess_sketch(pseudo_sketch(photo)) for photo in held_out.images]
    hands = [preprocess_sketch(hand_sketch(garment, rng)) for garment in frame["garment"]]
    clip = isinstance(embedder, ClipEmbedder)
    gallery = embedder.images(held_out.images)
    queries = {"edge map": embedder.images(edge_maps), "hand": embedder.images(hands)}
    report = {name: _scores(_order(vectors, gallery, clip), frame, ("garment",)) for name, vectors in queries.items()}
    if clip:
        colours = embedder.texts(list(frame["color"]))
        fused = _normalize((1 - WORDS_WEIGHT) * queries["hand"] + WORDS_WEIGHT * colours)
        report["hand + colour"] = _scores(_order(fused, gallery, True), frame, ("garment", "color"))
    return report


def evaluate_sketch(catalog_csv: Path, checkpoint: Path | None, holdout_fraction: float = 0.2, seed: int = 0,
                    profile: str = "tiny", baseline: Path | None = None,
                    baseline_model: str | None = None) -> dict[str, Any]:
    _, held_out_frame = split_catalog(pd.read_csv(catalog_csv, dtype=str, keep_default_na=False),
                                      holdout_fraction, seed)
    held_out = Split.load(held_out_frame, catalog_csv.parent)
    models: dict[str, Any] = {"grey_histogram": HistogramEmbedder(), "untrained": ClipEmbedder(load_clip(profile))}
    if baseline is not None:
        models["baseline"] = ClipEmbedder(load_clip(profile, baseline_model, baseline), "baseline")
    if checkpoint is not None:
        models["trained"] = ClipEmbedder(load_clip(profile, checkpoint=checkpoint))
    return {"catalog": str(catalog_csv), "held_out_products": len(held_out.frame), "seed": seed,
            "checkpoint": str(checkpoint) if checkpoint else None, "baseline": str(baseline) if baseline else None,
            "models": {name: evaluate_embedder(embedder, held_out, seed) for name, embedder in models.items()}}


def write_sketch_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sketch.json").write_text(json.dumps(report, indent=2))
    bars = [("edge map", "garment"), ("hand", "garment"), ("hand + colour", "garment"), ("hand + colour", "color")]
    names = list(report["models"])
    width = 0.8 / len(names)
    with saved_figure(out / "sketch.png") as axis:
        for n, name in enumerate(names):
            model = report["models"][name]
            values = [model.get(variant, {}).get("of_attainable", {}).get(attribute, 0.0)
                      for variant, attribute in bars]
            axis.bar(np.arange(len(bars)) + n * width, values, width, label=name)
        axis.set_xticks(np.arange(len(bars)) + width * (len(names) - 1) / 2,
                        [f"{variant}: {attribute}" for variant, attribute in bars])
        axis.set_ylim(0, 1)
        axis.set_ylabel(f"P@{TOP_K} of attainable, {report['held_out_products']} held-out products")
        axis.legend()
