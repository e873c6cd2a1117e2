"""The Milvus `trends` collection: social posts with their image embeddings, for trend analytics.

Like the catalog (atelier.catalog_store, whose connection, quoting and embedding-model record this reuses),
the collection records which embedding model filled it and refuses another. A post is stored as
ingest.trend_posts normalises it: hashtags space-joined, the date as unix seconds, and its zero-shot labels
(attribute -> value, atelier.labels) when the import labelled it.

The collection's name comes from ATELIER_TRENDS_COLLECTION, "trends" by default (atelier/config.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
from pymilvus import CollectionSchema, DataType

from atelier.catalog_store import CatalogStore, EmbeddingCollection, ModelMismatchError
from atelier.triton_client import EmbeddingModel

TEXT_FIELDS = {"caption": 8192, "hashtags": 4096, "image_uri": 2048, "source": 256}  # maximum lengths in bytes


def _fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def _joined(tags: list[str], limit: int) -> str:
    """Space-joined tags, as many as fit in `limit` UTF-8 bytes (the first ones)."""
    text = ""
    for tag in tags:
        joined = f"{text} {tag}" if text else tag
        if len(joined.encode("utf-8")) > limit:
            break
        text = joined
    return text


class TrendStore(EmbeddingCollection):
    def __init__(self, uri: str, collection: str = "trends") -> None:
        super().__init__(uri, collection)

    def add_fields(self, schema: CollectionSchema) -> None:
        for name, length in TEXT_FIELDS.items():
            schema.add_field(name, DataType.VARCHAR, max_length=length)
        schema.add_field("likes", DataType.INT64)
        schema.add_field("date", DataType.INT64)
        schema.add_field("labels", DataType.JSON)

    def upsert(self, posts: list[dict[str, Any]], embeddings: np.ndarray, model: EmbeddingModel) -> None:
        """Store posts (ingest.trend_posts' shape, optionally with `labels`) by id, with their embeddings."""
        self.create(model)
        records = [{
            "id": post["id"], "embedding": np.asarray(vector, np.float32).tolist(),
            "caption": _fit(post["caption"], TEXT_FIELDS["caption"]),
            "hashtags": _joined(post["hashtags"], TEXT_FIELDS["hashtags"]),
            "image_uri": post["image"], "source": _fit(post["source"], TEXT_FIELDS["source"]),
            "likes": int(post["likes"]), "date": int(post["date"].timestamp()),
            "labels": dict(post.get("labels") or {}),
        } for post, vector in zip(posts, embeddings)]
        self.client.upsert(self.collection, records)

    def posts(self) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Every post (ingest.trend_posts' shape, `date` a UTC datetime, `labels` when labelled), oldest first,
        and their embeddings [N, dim] in the same order."""
        if not self.exists():
            return [], np.zeros((0, 0), np.float32)
        rows = self.all_rows(["id", "embedding", *TEXT_FIELDS, "likes", "date", "labels"])
        rows.sort(key=lambda row: (row["date"], row["id"]))
        posts = [{"id": row["id"], "caption": row["caption"], "hashtags": row["hashtags"].split(),
                  "image": row["image_uri"], "likes": int(row["likes"]),
                  "date": datetime.fromtimestamp(row["date"], timezone.utc), "source": row["source"],
                  **({"labels": row["labels"]} if row["labels"] else {})} for row in rows]
        return posts, np.array([row["embedding"] for row in rows], np.float32).reshape(len(rows), -1)


def catalog_embeddings(catalog: CatalogStore, model: EmbeddingModel) -> tuple[list[dict[str, str]], np.ndarray]:
    """Every catalog product's id, title and image_uri, and its embedding [N, dim]; the catalog must have been
    filled by `model` (the trends' model) for its embeddings to be compared with the posts'."""
    recorded = catalog.recorded_model()
    if recorded is None:
        return [], np.zeros((0, model.dim), np.float32)
    if recorded != model:
        raise ModelMismatchError(f"collection {catalog.collection!r} was filled by embedding model {recorded}, but "
                                 f"the trend posts by {model}. Embeddings of different models cannot be compared: "
                                 f"import the trend posts again with {recorded.id}.")
    rows = catalog.all_rows(["id", "title", "image_uri", "embedding"])
    rows.sort(key=lambda row: row["id"])
    products = [{"id": row["id"], "title": row["title"], "image_uri": row["image_uri"]} for row in rows]
    return products, np.array([row["embedding"] for row in rows], np.float32).reshape(len(rows), model.dim)

