"""Training data for `atelier train lora`: (image, caption) pairs drawn from a weighted mixture of sources.

A source is a table of rows, each a dict with an "image" (a local path, encoded bytes or a PIL image) and
text fields: catalog rows as atelier/demo_catalog.py writes them (title, category, garment, color,
pattern, ...), trend posts and order history as any dict with optional "title", "caption", "hashtags"
and "labels" (name -> value). Each draw picks a source by weight, then one of its rows uniformly.
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from atelier.config import AtelierError
from atelier.stylist.prompts import article

# Row fields that describe what a picture shows, in caption order; ids, brands and prices do not.
ATTRIBUTES = ("category", "garment", "color", "pattern", "material", "style", "occasion", "season")


@dataclass(frozen=True)
class LoraSource:
    name: str
    rows: list[dict[str, Any]]
    weight: float = 1.0


@dataclass(frozen=True)
class LoraExample:
    pixels: torch.Tensor  # (3, resolution, resolution) in [-1, 1]
    caption: str
    original_size: tuple[int, int]  # (height, width) before resizing: SDXL's size conditioning
    crop_top_left: tuple[int, int]  # (top, left) of the crop in the resized image


def catalog_source(csv_path: Path, weight: float = 1.0, name: str = "catalog") -> LoraSource:
    """A catalog CSV (id,title,category,garment,color,pattern,brand,price,image), image paths made absolute."""
    csv_path = Path(csv_path)
    with csv_path.open(newline="") as file:
        rows = [{**row, "image": str(csv_path.parent / row["image"])} for row in csv.DictReader(file)]
    return LoraSource(name, rows, weight)


def _texts(value: Any) -> Iterator[str]:
    """The non-empty strings in a field: a string, or a list of them (anything else, e.g. NaN, is skipped)."""
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def caption(row: dict[str, Any]) -> str:
    """Title (or caption), then each attribute and label the text does not already name, then hashtags.

    {"title": "Linden red striped shirt", "category": "tops", "color": "red"} -> "Linden red striped shirt, tops"
    """
    parts: list[str] = []
    labels = row.get("labels") or {}
    for text in [*_texts(row.get("title")), *_texts(row.get("caption")),
                 *(t for key in ATTRIBUTES for t in _texts(row.get(key))),
                 *(t for value in labels.values() for t in _texts(value))]:
        if not re.search(rf"\b{re.escape(text)}\b", ", ".join(parts), re.IGNORECASE):
            parts.append(text)
    hashtags = row.get("hashtags") or []
    tags = [f"#{tag.lstrip('#')}" for tag in _texts(hashtags.split() if isinstance(hashtags, str) else hashtags)]
    return ", ".join([*parts, *([" ".join(tags)] if tags else [])])


def open_image(image: str | Path | bytes | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        picture = image
    elif isinstance(image, bytes):
        picture = Image.open(io.BytesIO(image))
    else:
        try:
            picture = Image.open(image)
        except OSError as error:
            raise AtelierError(f"could not read training image {image!r}: {error}") from error
    return ImageOps.exif_transpose(picture).convert("RGB")


def plain_caption(row: dict[str, Any]) -> str:
    """The row as a prompt that names no colour or pattern would: its garment ("a dress"; a trend post's from its
    labels), else "an outfit"."""
    garment = row.get("garment") or (row.get("labels") or {}).get("garment")
    return f"{article(garment)} {garment}" if isinstance(garment, str) and garment not in ("", "unknown") \
        else "an outfit"


def load_example(row: dict[str, Any], resolution: int, plain: bool = False) -> LoraExample:
    """The row's image resized so its short side is `resolution`, center-cropped square, and its caption (its
    `plain_caption` where `plain`)."""
    if "image" not in row:
        raise AtelierError(f"a LoRA training row has no image: {sorted(row)}")
    picture = open_image(row["image"])
    width, height = picture.size
    scale = resolution / min(width, height)
    resized = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    picture = picture.resize(resized, Image.Resampling.BICUBIC)
    left, top = (resized[0] - resolution) // 2, (resized[1] - resolution) // 2
    picture = picture.crop((left, top, left + resolution, top + resolution))
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
    return LoraExample(pixels, plain_caption(row) if plain else caption(row), (height, width), (top, left))


class MixtureSampler:
    """Picks a source by weight, then a row uniformly; a batch depends on (seed, step) alone.

    So a resumed run draws exactly the batches an uninterrupted one does, without saving sampler state.
    """

    def __init__(self, sources: Sequence[LoraSource], seed: int = 0) -> None:
        self.sources = [source for source in sources if source.weight > 0]
        empty = [source.name for source in self.sources if not source.rows]
        if not self.sources or empty:
            raise AtelierError(f"LoRA training needs a source with rows and a positive weight (empty: {empty})")
        self.seed = seed

    def draw(self, step: int, count: int) -> list[dict[str, Any]]:
        rng = random.Random(f"{self.seed}:{step}")
        picked = rng.choices(self.sources, weights=[source.weight for source in self.sources], k=count)
        return [source.rows[rng.randrange(len(source.rows))] for source in picked]
