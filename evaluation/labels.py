"""Zero-shot label accuracy on a catalog whose true attributes are known: `atelier eval labels`.

The demo catalog knows each product's category, garment, colour and pattern, and the drawer gives each
garment its sleeve and neckline (`atelier.vocabulary.SLEEVES`, `NECKLINES`: products whose garment has none
are not scored on them); for those attributes the report gives the top-1 accuracy of the labels (the most
probable value, whatever the "unknown" threshold), two baselines: chance (1 / number of values) and the
majority rate (always answering the most frequent true value: 0.4 for category, where four of the ten
garments are tops), the share labelled "unknown" and the accuracy of the rest, and the most frequent
confusions. Occasion and style have no ground truth in the demo catalog: the report gives only how their
labels are distributed, and `measured_accuracy` gives them None (the dashboard does not show them).

By default only the held-out split of `training.clip_metric.split_catalog` is labelled: the products a CLIP
model trained on the catalog (`atelier train clip`) never saw, with their titles, in training.

The embedder is the served model (a TritonClient) or, for a checkpoint that is not exported,
ClipBundleEmbedder: the same open_clip model in-process, with the preprocessing Triton's clip_image applies.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from atelier.images import decode_image
from atelier.labels import UNKNOWN, Embedder, Label, ZeroShotLabeler
from atelier.plots import saved_figure
from atelier.triton_client import EmbeddingModel
from atelier.vocabulary import NECKLINES, SLEEVES
from models.clip import ClipBundle
from training.clip_metric import split_catalog

GROUND_TRUTH = ("category", "garment", "color", "pattern", "sleeve", "neckline")
DRAWN = {"sleeve": SLEEVES, "neckline": NECKLINES}  # known from the garment, where the drawer gives it one
NO_GROUND_TRUTH = "no ground truth in the demo catalog"
TOP_CONFUSIONS = 5
IMAGE_BATCH = 128


class ClipBundleEmbedder:
    """An open_clip model in-process, answering as TritonClient does (L2-normalised embeddings, model record)."""

    def __init__(self, bundle: ClipBundle) -> None:
        self.bundle = bundle
        self.model = EmbeddingModel(**bundle.embedding_model)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> tuple[np.ndarray, EmbeddingModel]:
        return F.normalize(self.bundle.model.encode_text(self.bundle.tokenizer(texts)), dim=-1).numpy(), self.model

    @torch.no_grad()
    def embed_images(self, images: list[bytes]) -> tuple[np.ndarray, EmbeddingModel]:
        chunks = [self.bundle.model.encode_image(torch.stack([self.bundle.preprocess(decode_image(raw))
                                                              for raw in images[start : start + IMAGE_BATCH]]))
                  for start in range(0, len(images), IMAGE_BATCH)]
        return F.normalize(torch.cat(chunks), dim=-1).numpy(), self.model


def _distribution(values: list[str]) -> dict[str, int]:
    return dict(Counter(values).most_common())


def _scored(labels: list[Label], truth: pd.Series, values: list[str]) -> dict[str, Any]:
    """Top-1 accuracy over the products whose true value is one of `values`, against chance."""
    rows = [(t, max(label["scores"], key=label["scores"].get), label["value"])
            for t, label in zip(truth, labels) if t in values]
    correct = [t == p for t, p, _ in rows]
    labelled = [t == p for t, p, value in rows if value != UNKNOWN]
    confusions = Counter((t, p) for t, p, _ in rows if t != p).most_common(TOP_CONFUSIONS)
    return {
        "values": len(values), "evaluated": len(rows),
        "accuracy": round(float(np.mean(correct)), 4) if rows else None,
        "chance": round(1 / len(values), 4),
        "majority": round(Counter(t for t, _, _ in rows).most_common(1)[0][1] / len(rows), 4) if rows else None,
        "unknown_rate": round(1 - len(labelled) / len(rows), 4) if rows else None,
        "accuracy_when_labelled": round(float(np.mean(labelled)), 4) if labelled else None,
        "top_confusions": [{"true": t, "predicted": p, "count": n} for (t, p), n in confusions],
        "distribution": _distribution([label["value"] for label in labels]),
    }


def _truth(frame: pd.DataFrame, attribute: str) -> pd.Series | None:
    """The catalog's true value of `attribute` per product ("" where it has none), or None if it is not known."""
    if attribute in frame:
        return frame[attribute]
    if attribute in DRAWN and "garment" in frame:
        return frame["garment"].map(lambda garment: DRAWN[attribute].get(garment, ""))
    return None


def measured_accuracy(report: dict[str, Any]) -> dict[str, float | None]:
    """Per label attribute, the zero-shot accuracy the report measured (None where it has no ground truth)."""
    return {attribute: result.get("accuracy") for attribute, result in report["attributes"].items()}


def evaluate_labels(
    catalog_csv: Path, embedder: Embedder, limit: int | None = None,
    split: Literal["held-out", "all"] = "held-out", labeler: ZeroShotLabeler | None = None,
) -> dict[str, Any]:
    """Label the catalog's products (`split`, the first `limit` of them) and score the labels per attribute."""
    catalog_csv = Path(catalog_csv)
    frame = pd.read_csv(catalog_csv, dtype=str, keep_default_na=False)
    if split == "held-out":
        frame = split_catalog(frame)[1]
    frame = frame.head(limit) if limit is not None else frame
    labeler = labeler or ZeroShotLabeler(embedder)
    embeddings, model = embedder.embed_images([(catalog_csv.parent / path).read_bytes() for path in frame["image"]])
    labels = labeler.label_embeddings(embeddings, model)
    attributes: dict[str, Any] = {}
    for attribute, values in labeler.values.items():
        of_attribute = [row[attribute] for row in labels]
        truth = _truth(frame, attribute)
        if truth is not None:
            attributes[attribute] = _scored(of_attribute, truth, values)
        else:
            attributes[attribute] = {"values": len(values), "note": NO_GROUND_TRUTH,
                                     "distribution": _distribution([label["value"] for label in of_attribute])}
        attributes[attribute]["mean_confidence"] = round(float(np.mean([la["confidence"] for la in of_attribute])), 4)
    return {"catalog": str(catalog_csv), "split": split, "products": len(frame), "embedding_model": str(model),
            "logit_scale": labeler.logit_scale, "min_confidence": labeler.min_confidence, "attributes": attributes}


def write_labels_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """labels.json and labels.png (accuracy against the baselines per attribute with ground truth) in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / "labels.json", out_dir / "labels.png"
    json_path.write_text(json.dumps(report, indent=2))
    scored = {name: report["attributes"][name] for name in GROUND_TRUTH
              if report["attributes"].get(name, {}).get("accuracy") is not None}
    positions = np.arange(len(scored))
    with saved_figure(png_path) as axis:
        bars = (("accuracy", "zero-shot top-1 accuracy"), ("chance", "chance (1 / values)"),
                ("majority", "majority value"))
        for n, (key, label) in enumerate(bars):
            axis.bar(positions + (n - 1) * 0.27, [a[key] for a in scored.values()], 0.27, label=label)
        axis.set_xticks(positions, [f"{name} ({a['values']})" for name, a in scored.items()])
        axis.set_ylim(0, 1)
        axis.set_ylabel(f"accuracy, {report['products']} products ({report['split']})")
        axis.set_title(report["embedding_model"], fontsize=8)
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(bars), frameon=False)
    return json_path, png_path
