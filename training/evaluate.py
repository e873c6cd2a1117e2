"""Retrieval evaluation on a catalog's held-out split: `atelier eval retrieval`.

Relevance is attribute-level: products that share garment, colour and pattern look the same
(they differ only in brand and price), so a hit is relevant when those three match.

- text -> image: one query per distinct (colour, pattern, garment) of the held-out split,
  phrased "sage striped hoodie"; recall@1/5/10 (a relevant product in the top k) and MRR.
- image -> image: an augmented view of each product (crop, flip, brightness within the colour
  name) must find that very product; recall@1/5/10.
- composed: a product's image plus "as a <garment>" must find the same colour and pattern as that
  garment; recall@10 for normalize(w*image + (1-w)*text), with w chosen on the training split.
- filters: text queries restricted to the query's category and a price cap through a real Milvus
  Lite collection; every hit must satisfy the filter.

Baselines measured in the same run: grey-level histogram Euclidean distance (images only; it
cannot read text) and the untrained model.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps

from atelier.catalog_store import CatalogStore, build_filter
from atelier.demo_catalog import GARMENTS
from atelier.plots import saved_figure
from atelier.triton_client import EmbeddingModel
from export.clip import ClipBundle, load_clip
from training.clip_metric import split_catalog

WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
HISTOGRAM_BINS = 64


def describe(color: str, pattern: str, garment: str) -> str:
    return " ".join(w for w in (color, "" if pattern == "solid" else pattern, garment) if w)


def _key(row: Any) -> tuple[str, str, str]:
    return row.garment, row.color, row.pattern


@dataclass
class Split:
    """Products of one split with their decoded images."""

    frame: pd.DataFrame
    images: list[Image.Image]

    @classmethod
    def load(cls, frame: pd.DataFrame, base: Path) -> Split:
        images = [Image.open(base / path).convert("RGB") for path in frame["image"]]
        return cls(frame.reset_index(drop=True), images)

    def keys(self) -> list[tuple[str, str, str]]:
        return [_key(row) for row in self.frame.itertuples()]


class ClipEmbedder:
    def __init__(self, bundle: ClipBundle) -> None:
        self.bundle = bundle
        self.name = "trained" if bundle.build.get("checkpoint") else "untrained"

    @torch.no_grad()
    def images(self, images: list[Image.Image]) -> np.ndarray:
        chunks = [self.bundle.model.encode_image(torch.stack([self.bundle.preprocess(i) for i in images[s:s + 128]]))
                  for s in range(0, len(images), 128)]
        return F.normalize(torch.cat(chunks), dim=-1).numpy()

    @torch.no_grad()
    def texts(self, texts: list[str]) -> np.ndarray:
        return F.normalize(self.bundle.model.encode_text(self.bundle.tokenizer(texts)), dim=-1).numpy()


class HistogramEmbedder:
    """The prototypes' baseline: grey-level histograms compared by Euclidean distance."""

    name = "grey_histogram"

    def images(self, images: list[Image.Image]) -> np.ndarray:
        hists = [np.histogram(np.asarray(i.convert("L")), bins=HISTOGRAM_BINS, range=(0, 256))[0] for i in images]
        hists = np.asarray(hists, np.float32)
        return hists / hists.sum(axis=1, keepdims=True)


def _order(queries: np.ndarray, gallery: np.ndarray, cosine: bool) -> np.ndarray:
    if cosine:
        return np.argsort(-(queries @ gallery.T), axis=1, kind="stable")
    distances = ((queries[:, None, :] - gallery[None, :, :]) ** 2).sum(-1)
    return np.argsort(distances, axis=1, kind="stable")


def _first_relevant_ranks(order: np.ndarray, relevant: list[set[int]]) -> np.ndarray:
    """1-based rank of the first relevant gallery item per query (inf when none is retrieved)."""
    ranks = np.full(len(order), np.inf)
    for q, row in enumerate(order):
        hits = np.flatnonzero(np.isin(row, list(relevant[q])))
        if hits.size:
            ranks[q] = hits[0] + 1
    return ranks


def _recalls(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    metrics = {f"recall@{k}": round(float(np.mean(ranks <= k)), 4) for k in ks}
    metrics["mrr"] = round(float(np.mean(1.0 / ranks)), 4)
    return metrics


def text_to_image(embedder: ClipEmbedder, split: Split, gallery: np.ndarray) -> dict[str, float]:
    keys = split.keys()
    queries = sorted(set(keys))
    relevant = [{i for i, k in enumerate(keys) if k == q} for q in queries]
    texts = embedder.texts([describe(c, p, g) for g, c, p in queries])
    return {**_recalls(_first_relevant_ranks(_order(texts, gallery, True), relevant)), "queries": len(queries)}


def augmented_view(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A crop of 75-90% of the side, a flip half of the time, brightness within +-10%."""
    side = image.width * rng.uniform(0.75, 0.9)
    left, top = rng.uniform(0, image.width - side), rng.uniform(0, image.height - side)
    view = image.crop((int(left), int(top), int(left + side), int(top + side))).resize(image.size)
    if rng.random() < 0.5:
        view = ImageOps.mirror(view)
    return ImageEnhance.Brightness(view).enhance(rng.uniform(0.9, 1.1))


def image_to_image(embedder: Any, split: Split, gallery: np.ndarray, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    views = embedder.images([augmented_view(image, rng) for image in split.images])
    order = _order(views, gallery, isinstance(embedder, ClipEmbedder))
    return _recalls(_first_relevant_ranks(order, [{i} for i in range(len(split.images))]))


def composed_queries(split: Split) -> list[tuple[int, str, set[int]]]:
    """(query product, target garment, relevant products) for every target present in the split."""
    keys = split.keys()
    by_key: dict[tuple[str, str, str], set[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, set()).add(index)
    queries = []
    for index, (garment, color, pattern) in enumerate(keys):
        for target in GARMENTS:
            if target != garment and (target, color, pattern) in by_key:
                queries.append((index, target, by_key[(target, color, pattern)]))
    return queries


def composed(embedder: Any, split: Split, gallery: np.ndarray, weight: float) -> dict[str, float]:
    queries = composed_queries(split)
    images = gallery[[q for q, _, _ in queries]]
    if isinstance(embedder, ClipEmbedder):
        targets = sorted({t for _, t, _ in queries})
        text = dict(zip(targets, embedder.texts([f"as a {t}" for t in targets])))
        fused = weight * images + (1 - weight) * np.stack([text[t] for _, t, _ in queries])
        order = _order(fused / np.linalg.norm(fused, axis=1, keepdims=True), gallery, True)
    else:  # the histogram cannot read the text: it ranks by the image alone
        order = _order(images, gallery, False)
    ranks = _first_relevant_ranks(order, [r for _, _, r in queries])
    return {"recall@10": round(float(np.mean(ranks <= 10)), 4), "queries": len(queries)}


def filtered_search(embedder: ClipEmbedder, split: Split, gallery: np.ndarray) -> dict[str, Any]:
    """Text queries with a category and price filter through a real Milvus Lite collection."""
    frame = split.frame
    cap = float(frame["price"].median())
    model = EmbeddingModel(f"eval-{embedder.name}", "0" * 64, gallery.shape[1])
    with tempfile.TemporaryDirectory() as work:
        store = CatalogStore(str(Path(work) / "eval.db"), "eval")
        rows = [{"id": str(r.id), "title": r.title, "category": r.category, "garment": r.garment, "color": r.color,
                 "pattern": r.pattern, "price": float(r.price), "image_uri": r.image} for r in frame.itertuples()]
        store.upsert(rows, gallery, model)
        queries = sorted(set(split.keys()))
        texts = embedder.texts([describe(c, p, g) for g, c, p in queries])
        violations, found, answerable = 0, 0, 0
        for (garment, color, pattern), vector in zip(queries, texts):
            category = GARMENTS[garment]
            expr = build_filter({"category": [category]}, max_price=cap)
            hits = store.search(vector, model, top_k=10, filter_expr=expr)
            violations += sum(h.fields["category"] != category or h.fields["price"] > cap + 1e-3 for h in hits)
            relevant = frame[(frame.garment == garment) & (frame.color == color) & (frame.pattern == pattern)
                             & (frame.price <= cap)]
            if len(relevant):
                answerable += 1
                found += any(h.id in set(relevant["id"].astype(str)) for h in hits)
        store.client.close()
    return {"filter_violations": violations, "recall@10": round(found / max(answerable, 1), 4),
            "queries": answerable}


def best_weight(embedder: ClipEmbedder, train: Split) -> float:
    gallery = embedder.images(train.images)
    scores = {w: composed(embedder, train, gallery, w)["recall@10"] for w in WEIGHTS}
    return max(scores, key=scores.get)


def evaluate_model(embedder: Any, train: Split, held_out: Split, seed: int) -> dict[str, Any]:
    gallery = embedder.images(held_out.images)
    report: dict[str, Any] = {"image_to_image": image_to_image(embedder, held_out, gallery, seed)}
    if isinstance(embedder, ClipEmbedder):
        weight = best_weight(embedder, train)
        report["text_to_image"] = text_to_image(embedder, held_out, gallery)
        report["composed_weighted_sum"] = {**composed(embedder, held_out, gallery, weight), "image_weight": weight}
        report["filtered"] = filtered_search(embedder, held_out, gallery)
    else:
        report["composed_weighted_sum"] = composed(embedder, held_out, gallery, 1.0)
    return report


def evaluate_retrieval(catalog_csv: Path, checkpoint: Path | None, holdout_fraction: float = 0.2,
                       seed: int = 0, profile: str = "tiny") -> dict[str, Any]:
    frame = pd.read_csv(catalog_csv)
    train_frame, held_out_frame = split_catalog(frame, holdout_fraction, seed)
    train, held_out = Split.load(train_frame, catalog_csv.parent), Split.load(held_out_frame, catalog_csv.parent)
    models: dict[str, Any] = {"grey_histogram": HistogramEmbedder(), "untrained": ClipEmbedder(load_clip(profile))}
    if checkpoint is not None:
        models["trained"] = ClipEmbedder(load_clip(profile, checkpoint=checkpoint))
    return {
        "catalog": str(catalog_csv), "held_out_products": len(held_out.frame), "train_products": len(train.frame),
        "seed": seed, "checkpoint": str(checkpoint) if checkpoint else None,
        "models": {name: evaluate_model(embedder, train, held_out, seed) for name, embedder in models.items()},
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval.json").write_text(json.dumps(report, indent=2))
    metrics = [("text_to_image", "recall@5", "text→image R@5"), ("image_to_image", "recall@1", "image→image R@1"),
               ("composed_weighted_sum", "recall@10", "composed R@10")]
    names = list(report["models"])
    width = 0.8 / len(names)
    with saved_figure(out / "retrieval.png") as axis:
        for n, name in enumerate(names):
            values = [report["models"][name].get(task, {}).get(metric, 0.0) for task, metric, _ in metrics]
            axis.bar(np.arange(len(metrics)) + n * width, values, width, label=name)
        axis.set_xticks(np.arange(len(metrics)) + width * (len(names) - 1) / 2, [label for *_, label in metrics])
        axis.set_ylim(0, 1)
        axis.set_ylabel("recall (held-out split)")
        axis.legend()
