"""Catalog search by text, by image, or by both fused as normalize(w * image + (1 - w) * text), optionally leaning
towards a shopper's history (atelier/profiles.py blend)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from atelier.catalog_store import CatalogStore, Hit, build_filter
from atelier.config import AtelierError
from atelier.profiles import ShopperProfile, blend
from atelier.triton_client import EmbeddingModel, TritonClient


def fuse(image_embedding: np.ndarray, text_embedding: np.ndarray, image_weight: float) -> np.ndarray:
    """Weighted sum of two unit vectors, renormalised; image_weight 1 is image only, 0 text only."""
    if not 0.0 <= image_weight <= 1.0:
        raise AtelierError(f"image weight must be between 0 and 1, not {image_weight}")
    mixed = image_weight * image_embedding + (1.0 - image_weight) * text_embedding
    norm = float(np.linalg.norm(mixed))
    if norm < 1e-6:  # opposite vectors at equal weight: no direction left to search
        raise AtelierError("the text and the image cancel each other out at this weight; move the slider")
    return mixed / norm


@dataclass
class Query:
    text: str = ""
    image: bytes | None = None
    image_weight: float = 0.5
    equals: dict[str, list[str]] = field(default_factory=dict)
    min_price: float | None = None
    max_price: float | None = None
    top_k: int = 10
    profile: ShopperProfile | None = None  # lean towards this shopper's purchases...
    history_weight: float = 0.0  # ...by this much: normalize((1 - w) * query + w * taste)


class CatalogSearch:
    def __init__(self, triton: TritonClient, store: CatalogStore) -> None:
        self.triton = triton
        self.store = store

    def embed(self, query: Query) -> tuple[np.ndarray, EmbeddingModel]:
        text = query.text.strip()
        if not text and not query.image:
            raise AtelierError("give a text, an image, or both to search")
        text_vec = image_vec = None
        if text:
            vectors, model = self.triton.embed_texts([text])
            text_vec = vectors[0]
        if query.image:
            vectors, model = self.triton.embed_images([query.image])
            image_vec = vectors[0]
        if text_vec is not None and image_vec is not None:
            return fuse(image_vec, text_vec, query.image_weight), model
        return (text_vec if text_vec is not None else image_vec), model

    def search(self, query: Query) -> list[Hit]:
        vector, model = self.embed(query)
        if query.profile is not None and query.history_weight > 0:
            vector = blend(vector, query.profile, query.history_weight)
        expr = build_filter(query.equals, query.min_price, query.max_price)
        return self.store.search(vector, model, top_k=query.top_k, filter_expr=expr)
