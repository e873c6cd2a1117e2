"""Sketch search on a catalog's held-out split: `atelier eval sketch`.

Each held-out product's photo becomes a pseudo-sketch (its edges, atelier.sketch.pseudo_sketch),
which is the query; the gallery is the held-out photos. Two relevance levels: the very product
("product") and any product of the same garment ("garment": a sketch shows a shape, not a
colour). Query variants, measured in one run with the same model:

- raw: the pseudo-sketch as it is
- preprocessed: after atelier.sketch.preprocess_sketch (crop, centre, stroke width, contrast)
- raw + caption: the seed approach, the sketch's embedding averaged with its caption's text
  embedding ("sage striped hoodie")
- preprocessed + caption
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from atelier.plots import saved_figure
from atelier.sketch import preprocess_sketch, pseudo_sketch
from export.clip import load_clip
from training.clip_metric import split_catalog
from training.evaluate import ClipEmbedder, Split, _first_relevant_ranks, _order, _recalls, describe

VARIANTS = ("raw", "preprocessed", "raw + caption", "preprocessed + caption")


def _normalize(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def evaluate_sketch(catalog_csv: Path, checkpoint: Path | None, holdout_fraction: float = 0.2, seed: int = 0,
                    profile: str = "tiny") -> dict[str, Any]:
    _, held_out_frame = split_catalog(pd.read_csv(catalog_csv), holdout_fraction, seed)
    held_out = Split.load(held_out_frame, catalog_csv.parent)
    embedder = ClipEmbedder(load_clip(profile, checkpoint=checkpoint))
    gallery = embedder.images(held_out.images)
    sketches = [pseudo_sketch(photo) for photo in held_out.images]
    raw = embedder.images(sketches)
    preprocessed = embedder.images([preprocess_sketch(sketch) for sketch in sketches])
    captions = embedder.texts([describe(r.color, r.pattern, r.garment) for r in held_out.frame.itertuples()])
    queries = {"raw": raw, "preprocessed": preprocessed, "raw + caption": _normalize(raw + captions),
               "preprocessed + caption": _normalize(preprocessed + captions)}
    garments = held_out.frame["garment"].to_numpy()
    relevance = {"product": [{i} for i in range(len(garments))],
                 "garment": [set(np.flatnonzero(garments == g)) for g in garments]}
    results = {
        variant: {level: _recalls(_first_relevant_ranks(_order(vectors, gallery, cosine=True), relevant))
                  for level, relevant in relevance.items()}
        for variant, vectors in queries.items()
    }
    return {"catalog": str(catalog_csv), "held_out_products": len(garments), "seed": seed,
            "checkpoint": str(checkpoint) if checkpoint else None, "model": embedder.name, "variants": results}


def write_sketch_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sketch.json").write_text(json.dumps(report, indent=2))
    bars = [("product", "recall@10", "same product R@10"), ("garment", "recall@1", "same garment R@1"),
            ("garment", "recall@5", "same garment R@5")]
    width = 0.8 / len(VARIANTS)
    with saved_figure(out / "sketch.png") as axis:
        for n, variant in enumerate(VARIANTS):
            values = [report["variants"][variant][level][metric] for level, metric, _ in bars]
            axis.bar(np.arange(len(bars)) + n * width, values, width, label=variant)
        axis.set_xticks(np.arange(len(bars)) + width * (len(VARIANTS) - 1) / 2, [label for *_, label in bars])
        axis.set_ylim(0, 1)
        axis.set_ylabel(f"recall, {report['held_out_products']} held-out pseudo-sketches")
        axis.legend()
