"""Retrieval evaluation on a catalog's held-out split: `atelier eval retrieval`.

Relevance is attribute-level: products that share garment, colour and pattern look the same
(they differ only in brand and price).

- text queries as people type them, one per distinct value combination of the held-out split
  (`text_queries`): "trousers", "navy trousers", "striped dress", "red polka-dot coat", "tops".
  For each attribute a query names, precision@10 is the share of the top 10 that has it, and
  "of attainable" divides it by the precision of the best ranking a shopper would expect
  (everything named first, then the garment, then the colour, then the pattern): when the split
  holds three navy trousers, "navy trousers" can show at most three navy items among ten trousers.
- text -> image with complete descriptions ("sage striped hoodie"): recall@1/5/10 and MRR.
- image -> image: an augmented view of each product (crop, flip, brightness within the colour
  name) must find that very product; recall@1/5/10.
- composed (`composed_queries`): a product's image plus words that change one attribute ("as a
  dress", "in black", "with stripes") or contradict two ("black dress") must find the product with
  the words' values and the image's other values; recall@10 for normalize(w*image + (1-w)*text),
  with one w for all kinds chosen on the training split.
- filters: text queries restricted to the query's category and a price cap through a real Milvus
  Lite collection; every hit must satisfy the filter.

Models measured in the same run: the trained model, optionally a baseline checkpoint (the one a
previous recipe made), the untrained model, and the grey-level histogram (images only; it cannot
read text, so for composed queries it ranks by the image alone).
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
from atelier.plots import saved_figure
from atelier.search import Query
from atelier.triton_client import EmbeddingModel
from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS, typed
from models.clip import ClipBundle, load_clip
from training.clip_metric import split_catalog
from training.clip_texts import PATTERN_NOUNS, with_article

WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
DEFAULT_IMAGE_WEIGHT = Query.image_weight  # where Discover's slider starts
HISTOGRAM_BINS = 64
TOP_K = 10
IMPORTANCE = ("category", "garment", "color", "pattern")  # the order a shopper expects them honoured in
TEXT_QUERY_SETS: dict[str, tuple[str, ...]] = {  # query set -> the attributes its queries name
    "garment": ("garment",), "color+garment": ("color", "garment"), "pattern+garment": ("pattern", "garment"),
    "color+pattern+garment": ("color", "pattern", "garment"), "category": ("category",),
}
COMPOSED_KINDS = ("other garment", "other colour", "other pattern", "conflicting colour and garment")


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
    def __init__(self, bundle: ClipBundle, name: str | None = None) -> None:
        self.bundle = bundle
        self.name = name or ("trained" if bundle.build.get("checkpoint") else "untrained")

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


def text_queries(frame: pd.DataFrame, named: tuple[str, ...]) -> list[dict[str, str]]:
    """The distinct value combinations of `named` attributes in `frame`: one query each."""
    return [dict(zip(named, values)) for values in sorted(set(frame[list(named)].itertuples(index=False)))]


def _precision(order: np.ndarray, frame: pd.DataFrame, query: dict[str, str]) -> tuple[dict, dict]:
    """Per named attribute: the share of the top TOP_K with the query's value, and the same share for the
    best ranking (products ordered by the named attributes they match, in IMPORTANCE order)."""
    named = [a for a in IMPORTANCE if a in query]
    matches = np.stack([frame[a].to_numpy() == query[a] for a in named], axis=1)
    keys = np.column_stack([matches.all(axis=1), matches]).astype(int)
    ideal = np.lexsort(-keys.T[::-1])[:TOP_K]  # all named first, then each attribute in order of importance
    top = order[:TOP_K]
    return ({a: float(matches[top, n].mean()) for n, a in enumerate(named)},
            {a: float(matches[ideal, n].mean()) for n, a in enumerate(named)})


def text_precision(embedder: ClipEmbedder, split: Split, gallery: np.ndarray) -> dict[str, Any]:
    """Precision@10 per named attribute for each of TEXT_QUERY_SETS (see the module docstring)."""
    report = {}
    for name, named in TEXT_QUERY_SETS.items():
        queries = text_queries(split.frame, named)
        orders = _order(embedder.texts([typed(q) for q in queries]), gallery, True)
        report[name] = {"queries": len(queries), "examples": [typed(q) for q in queries[:3]],
                        **precision_report([_precision(order, split.frame, q) for order, q in zip(orders, queries)])}
    return report


def precision_report(results: list[tuple[dict, dict]]) -> dict[str, dict[str, float]]:
    """Per attribute, mean precision@10 over the queries, and "of attainable": the share of the best ranking's
    matches that the ranking reached (per query at most all of them: more colour than a garment-first ranking
    holds means garments were passed over, which the garment's own figure shows)."""
    found, attainable = zip(*results)
    return {f"precision@{TOP_K}": {a: round(float(np.mean([f[a] for f in found])), 4) for a in found[0]},
            "of_attainable": {a: round(sum(min(f[a], b[a]) for f, b in results) / sum(b[a] for b in attainable), 4)
                              for a in found[0]}}


def _targets(kind: str, key: tuple[str, str, str]) -> list[tuple[tuple[str, str, str], str]]:
    """The (garment, colour, pattern) targets of a composed query of `kind` on a product, with their words."""
    g, c, p = key
    if kind == "other garment":
        return [((other, c, p), f"as {with_article(other)}") for other in GARMENTS if other != g]
    if kind == "other colour":
        return [((g, other, p), f"in {other}") for other in COLOURS if other != c]
    if kind == "other pattern":
        return [((g, c, other), "in a plain colour" if other == "solid" else f"with {PATTERN_NOUNS[other]}")
                for other in PATTERNS if other != p]
    return [((garment, colour, p), f"{colour} {garment}") for garment in GARMENTS for colour in COLOURS
            if garment != g and colour != c]


def composed_queries(split: Split, seed: int) -> dict[str, list[tuple[int, str, set[int]]]]:
    """Per kind of COMPOSED_KINDS, (query product, words, relevant products): one query per product of the split,
    its target drawn (seeded) among the targets the split holds; products with no target are left out."""
    keys = split.keys()
    by_key: dict[tuple[str, str, str], set[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, set()).add(index)
    rng = np.random.default_rng(seed)
    queries: dict[str, list[tuple[int, str, set[int]]]] = {kind: [] for kind in COMPOSED_KINDS}
    for kind in COMPOSED_KINDS:
        for index, key in enumerate(keys):
            if options := [(target, words) for target, words in _targets(kind, key) if target in by_key]:
                target, words = options[int(rng.integers(len(options)))]
                queries[kind].append((index, words, by_key[target]))
    return queries


def composed(embedder: Any, split: Split, gallery: np.ndarray, weight: float, seed: int) -> dict[str, Any]:
    """recall@10 of each kind of composed query, and their mean."""
    report: dict[str, Any] = {}
    for kind, queries in composed_queries(split, seed).items():
        images = gallery[[q for q, _, _ in queries]]
        if isinstance(embedder, ClipEmbedder):
            words = sorted({w for _, w, _ in queries})
            text = dict(zip(words, embedder.texts(words)))
            fused = weight * images + (1 - weight) * np.stack([text[w] for _, w, _ in queries])
            order = _order(fused / np.linalg.norm(fused, axis=1, keepdims=True), gallery, True)
        else:  # the histogram cannot read the words: it ranks by the image alone
            order = _order(images, gallery, False)
        ranks = _first_relevant_ranks(order, [r for _, _, r in queries])
        report[kind] = {f"recall@{TOP_K}": round(float(np.mean(ranks <= TOP_K)), 4), "queries": len(queries),
                        "example": queries[0][1] if queries else None}
    report["mean"] = round(float(np.mean([report[kind][f"recall@{TOP_K}"] for kind in COMPOSED_KINDS])), 4)
    return report


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


def best_weight(embedder: ClipEmbedder, train: Split, seed: int) -> float:
    """The image weight with the best mean composed recall on the training split."""
    gallery = embedder.images(train.images)
    scores = {w: composed(embedder, train, gallery, w, seed)["mean"] for w in WEIGHTS}
    return max(scores, key=scores.get)


def evaluate_model(embedder: Any, train: Split, held_out: Split, seed: int) -> dict[str, Any]:
    gallery = embedder.images(held_out.images)
    report: dict[str, Any] = {"image_to_image": image_to_image(embedder, held_out, gallery, seed)}
    if isinstance(embedder, ClipEmbedder):
        weight = best_weight(embedder, train, seed)
        report["text_queries"] = text_precision(embedder, held_out, gallery)
        report["text_to_image"] = text_to_image(embedder, held_out, gallery)
        report["composed_weighted_sum"] = {**composed(embedder, held_out, gallery, weight, seed),
                                           "image_weight": weight}
        report["composed_at_dashboard_default"] = {
            **composed(embedder, held_out, gallery, DEFAULT_IMAGE_WEIGHT, seed), "image_weight": DEFAULT_IMAGE_WEIGHT}
        report["filtered"] = filtered_search(embedder, held_out, gallery)
    else:
        report["composed_weighted_sum"] = composed(embedder, held_out, gallery, 1.0, seed)
    return report


def evaluate_retrieval(catalog_csv: Path, checkpoint: Path | None, holdout_fraction: float = 0.2,
                       seed: int = 0, profile: str = "tiny", baseline: Path | None = None,
                       baseline_model: str | None = None) -> dict[str, Any]:
    """The trained model (`checkpoint`) against the baselines; `baseline` adds another checkpoint of `profile`."""
    frame = pd.read_csv(catalog_csv)
    train_frame, held_out_frame = split_catalog(frame, holdout_fraction, seed)
    train, held_out = Split.load(train_frame, catalog_csv.parent), Split.load(held_out_frame, catalog_csv.parent)
    models: dict[str, Any] = {"grey_histogram": HistogramEmbedder(), "untrained": ClipEmbedder(load_clip(profile))}
    if baseline is not None:
        models["baseline"] = ClipEmbedder(load_clip(profile, baseline_model, baseline), "baseline")
    if checkpoint is not None:
        models["trained"] = ClipEmbedder(load_clip(profile, checkpoint=checkpoint))
    return {
        "catalog": str(catalog_csv), "held_out_products": len(held_out.frame), "train_products": len(train.frame),
        "seed": seed, "checkpoint": str(checkpoint) if checkpoint else None,
        "baseline": str(baseline) if baseline else None,
        "models": {name: evaluate_model(embedder, train, held_out, seed) for name, embedder in models.items()},
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    """retrieval.json, and retrieval.png: per model, precision@10 of what the typed queries name and composed
    recall@10."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval.json").write_text(json.dumps(report, indent=2))
    metrics = [("garment", "garment", '"trousers": garment'), ("color+garment", "garment", '"navy trousers": garment'),
               ("color+garment", "color", '"navy trousers": colour*'), ("category", "category", '"tops": category')]
    names = list(report["models"])
    width = 0.8 / len(names)
    labels = [label for *_, label in metrics] + [f"composed: {kind}" for kind in COMPOSED_KINDS]
    with saved_figure(out / "retrieval.png") as axis:
        for n, name in enumerate(names):
            model = report["models"][name]
            queries = model.get("text_queries", {})
            values = [queries.get(query, {}).get("of_attainable", {}).get(attribute, 0.0)
                      for query, attribute, _ in metrics]
            values += [model["composed_weighted_sum"][kind][f"recall@{TOP_K}"] for kind in COMPOSED_KINDS]
            axis.bar(np.arange(len(labels)) + n * width, values, width, label=name)
        axis.set_xticks(np.arange(len(labels)) + width * (len(names) - 1) / 2, labels, rotation=30, ha="right",
                        fontsize=7)
        axis.set_ylim(0, 1)
        axis.set_ylabel(f"held-out P@{TOP_K} (*of attainable), R@{TOP_K}")
        axis.legend(fontsize=7)
