"""The Milvus `catalog` collection: product embeddings with filterable attributes.

The same code talks to Milvus Lite (a local `.db` path) and to a Milvus server (`http://host:19530`).
The collection records which embedding model filled it (collection property
`atelier.embedding_model`: id, weights hash, dim); writing or searching with another model is
refused with a message naming both. Each product also carries its zero-shot fashion labels
(atelier/labels.py): label_<attribute> (filterable) and label_<attribute>_confidence.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient
from pymilvus.client.types import Status
from pymilvus.exceptions import MilvusException, MilvusUnavailableException

from atelier.batching import CallBatcher
from atelier.config import MILVUS_KEEPALIVE, AtelierError, milvus_token_from_env
from atelier.triton_client import EmbeddingModel

MODEL_PROPERTY = "atelier.embedding_model"
# Attribute fields and their maximum lengths; `price` is the one numeric attribute.
TEXT_FIELDS = {
    "title": 512, "category": 64, "garment": 64, "color": 64, "pattern": 64, "brand": 128,
    "source": 256, "image_uri": 2048, "row_hash": 64, "image_fingerprint": 512,
}
LABELS = ("category", "garment", "color", "pattern", "sleeve", "neckline", "occasion", "style")  # atelier/labels.py
LABEL_FIELDS = tuple(f"label_{name}" for name in LABELS)
CONFIDENCE_FIELDS = tuple(f"{field}_confidence" for field in LABEL_FIELDS)
FILTER_FIELDS = ("category", "garment", "color", "pattern", "brand", "source", *LABEL_FIELDS)
OUTPUT_FIELDS = [name for name in TEXT_FIELDS if name not in ("row_hash", "image_fingerprint")] + [
    "price", *LABEL_FIELDS, *CONFIDENCE_FIELDS]
ID_MAX_LENGTH = 128
# HNSW's search breadth (ef) by collection size, (rows up to, ef): the smallest breadth of `atelier bench search`'s
# sweep whose recall@10 against exact search reached 0.99 for typed queries on the demo catalog drawn at that size
# (pictures of products found their exact top 10 at every breadth); docs/benchmarks.md. Above the largest size
# measured, the largest breadth swept (unmeasured there). Sealing a collection records its breadth in it.
HNSW_GRAPH = {"M": 16, "efConstruction": 200}  # how the index is built (its links per node, its build breadth)
SEARCH_BREADTHS = ((10_000, 128), (100_000, 512))
LARGEST_BREADTH = 1024
SEARCH_EF_PROPERTY = "atelier.search_ef"


def search_breadth(rows: int) -> int:
    """The HNSW search breadth for a collection of `rows` rows."""
    return next((ef for size, ef in SEARCH_BREADTHS if rows <= size), LARGEST_BREADTH)


class ModelMismatchError(AtelierError):
    pass


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    fields: dict[str, Any]


# pymilvus logs every failed call and reconnection with a traceback on stderr; GuardedClient reports each failure,
# once, itself.
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)


class MilvusError(AtelierError):
    """A Milvus call failed (the server stopped answering, or refused the call); the message names the server."""


class GuardedClient:
    """A MilvusClient whose failures are MilvusErrors naming the server, instead of pymilvus' exceptions."""

    def __init__(self, client: MilvusClient, uri: str) -> None:
        self._client, self._uri = client, uri

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except MilvusException as error:
                if isinstance(error, MilvusUnavailableException) or error.code == Status.CONNECT_FAILED:
                    raise MilvusError(f"Milvus at {self._uri} is not answering ({error.message}); start it again "
                                      "(`atelier up` starts the embedded one) and repeat what you did") from None
                raise MilvusError(f"Milvus at {self._uri} refused {name}: {error.message}") from None

        return guarded


def connect(uri: str) -> GuardedClient:
    """A client for a Milvus Lite file or server, with ATELIER_MILVUS_TOKEN ("user:password") where it is set."""
    if "://" not in uri:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        return GuardedClient(MilvusClient(uri, token=milvus_token_from_env(), grpc_options=MILVUS_KEEPALIVE), uri)
    except MilvusException as error:
        raise AtelierError(f"cannot open Milvus at {uri}: {error.message}") from error
    except Exception as error:  # connection failures surface as assorted gRPC/OS errors
        raise AtelierError(f"cannot open Milvus at {uri}: {error}") from error


LITERAL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def quote(value: str) -> str:
    """A Milvus string literal that reads back as exactly `value`, whatever it holds. Milvus' parser takes every
    other character raw and knows no \\u or \\x escapes (filter templating does not work on Milvus Lite)."""
    return '"' + str(value).translate(LITERAL_ESCAPES) + '"'


LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})  # the characters `like` reads specially
NAME_FIELDS = ("title", "brand", "id")  # what a product is found by in words


def build_filter(
    equals: dict[str, str | list[str]] | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    text: str | None = None,
) -> str:
    """A boolean expression from attribute filters: a value or a list of allowed values per field, a price range,
    and `text` found anywhere in a product's title, brand or id (as typed, lower case or capitalised: Milvus'
    `like` tells case)."""
    clauses = []
    if text and text.strip():
        typed = text.strip()
        patterns = [f"%{variant.translate(LIKE_ESCAPES)}%"
                    for variant in dict.fromkeys((typed, typed.lower(), typed.capitalize(), typed.title()))]
        clauses.append("(" + " or ".join(f"{name} like {quote(pattern)}" for name in NAME_FIELDS
                                         for pattern in patterns) + ")")
    for name, value in (equals or {}).items():
        if name not in FILTER_FIELDS:
            raise AtelierError(f"cannot filter on {name!r}; filterable fields: {', '.join(FILTER_FIELDS)}")
        values = [value] if isinstance(value, str) else list(value)
        if values:
            clauses.append(f"{name} in [{', '.join(quote(v) for v in values)}]")
    if min_price is not None:
        clauses.append(f"price >= {float(min_price)}")
    if max_price is not None:
        clauses.append(f"price <= {float(max_price)}")
    return " and ".join(clauses)


class EmbeddingCollection:
    """A Milvus collection of image embeddings that records which embedding model filled it and refuses another.

    The catalog and the trends collection (atelier/trend_store.py) are two of these.
    """

    def __init__(self, uri: str, collection: str) -> None:
        self.uri = uri
        self.collection = collection
        self.client = connect(uri)
        if self.exists():  # a collection from an earlier server run starts out released
            self.client.load_collection(collection)

    def exists(self) -> bool:
        return self.client.has_collection(self.collection)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold this collection's writer lock on this machine. A second ingest into it meanwhile (the CLI and the
        dashboard, say) is refused rather than interleaved: both would upsert the same ids, the last write of
        each winning silently. Writers on other machines sharing a Milvus server are not seen."""
        where = self.uri if "://" in self.uri else str(Path(self.uri).resolve())
        key = hashlib.sha256(f"{where}|{self.collection}".encode()).hexdigest()[:16]
        with open(Path(tempfile.gettempdir()) / f"atelier-writer-{key}.lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                raise AtelierError(f"another ingest into collection {self.collection!r} at {self.uri} is running "
                                   f"({lock.read().strip() or 'pid unknown'}); run this one when it has finished"
                                   ) from None
            lock.seek(0)
            lock.truncate()
            lock.write(f"pid {os.getpid()}")
            lock.flush()
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def recorded_model(self) -> EmbeddingModel | None:
        if not self.exists():
            return None
        properties = self.client.describe_collection(self.collection).get("properties", {})
        return EmbeddingModel.from_json(properties[MODEL_PROPERTY]) if MODEL_PROPERTY in properties else None

    def check_model(self, model: EmbeddingModel) -> None:
        """Refuse a model other than the one that filled the collection."""
        recorded = self.recorded_model()
        if recorded is not None and recorded != model:
            raise ModelMismatchError(
                f"collection {self.collection!r} was filled by embedding model {recorded}, but Triton serves "
                f"{model}. Embeddings of different models cannot be compared: serve {recorded.id} again, "
                f"or ingest into another collection (set ATELIER_COLLECTION) with {model.id}."
            )

    def add_fields(self, schema: CollectionSchema) -> None:
        """The collection's own fields, beside the id and the embedding."""
        raise NotImplementedError

    def create(self, model: EmbeddingModel) -> None:
        """Create the collection for `model` if it does not exist; refuse if it exists for another."""
        if self.exists():
            self.check_model(model)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX_LENGTH)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=model.dim)
        self.add_fields(schema)
        index = self.client.prepare_index_params()
        index.add_index("embedding", index_type="HNSW", metric_type="COSINE", params=HNSW_GRAPH)
        self.client.create_collection(self.collection, schema=schema, index_params=index,
                                      properties={MODEL_PROPERTY: model.to_json()})

    def all_rows(self, fields: list[str], batch_size: int = 1000) -> list[dict[str, Any]]:
        """Every row's `fields`, a page at a time in id order (no limit, unlike a query). Not pymilvus'
        query_iterator: it pastes the last id into its next filter unescaped, so one id with a quote in it
        stopped the read."""
        rows: list[dict[str, Any]] = []
        while True:
            after = f"id > {quote(rows[-1]['id'])}" if rows else ""
            page = self.client.query(self.collection, filter=after, output_fields=list({"id", *fields}),
                                     limit=batch_size, iterator="True", reduce_stop_for_best="True")
            rows.extend(sorted(page, key=lambda row: row["id"]))
            if len(page) < batch_size:
                return [{name: row[name] for name in fields} for row in rows]

    def seal(self) -> None:
        """Flush what was just written into sealed, indexed segments, and record the search breadth for the
        collection's size. Searched while still growing, a 2,000-product catalog answered in about 145 ms a search
        on Milvus Lite, 20 ms once sealed (one client, this machine): ingest seals when it is done."""
        self.client.flush(self.collection)
        self.client.alter_collection_properties(self.collection,
                                                properties={SEARCH_EF_PROPERTY: str(search_breadth(self.count()))})

    def search_ef(self) -> int:
        """The search breadth recorded when the collection was last sealed (for its size now where it was not)."""
        recorded = self.client.describe_collection(self.collection).get("properties", {}).get(SEARCH_EF_PROPERTY)
        return int(recorded) if recorded else search_breadth(self.count())

    def count(self, filter_expr: str = "") -> int:
        if not self.exists():
            return 0
        rows = self.client.query(self.collection, filter=filter_expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def drop(self) -> None:
        self.client.drop_collection(self.collection)


class CatalogStore(EmbeddingCollection):
    def __init__(self, uri: str, collection: str = "catalog") -> None:
        super().__init__(uri, collection)
        self.searches = CallBatcher()  # the searches of everyone sharing this store, one Milvus call at a time

    def is_current(self) -> bool:
        """Whether the collection has every field of this version (those made before the labels and image
        fingerprints do not)."""
        fields = {f["name"] for f in self.client.describe_collection(self.collection)["fields"]}
        return {*TEXT_FIELDS, *LABEL_FIELDS, *CONFIDENCE_FIELDS} <= fields

    def create(self, model: EmbeddingModel) -> None:
        if self.exists() and not self.is_current():
            raise AtelierError(f"collection {self.collection!r} was made before fashion labels and image "
                               "fingerprints: ingest into another collection (ATELIER_COLLECTION) or drop this "
                               "one and ingest again")
        super().create(model)

    def add_fields(self, schema: CollectionSchema) -> None:
        for name, length in TEXT_FIELDS.items():
            schema.add_field(name, DataType.VARCHAR, max_length=length)
        schema.add_field("price", DataType.FLOAT)
        for name in LABEL_FIELDS:
            schema.add_field(name, DataType.VARCHAR, max_length=64)
        for name in CONFIDENCE_FIELDS:
            schema.add_field(name, DataType.FLOAT)

    def upsert(self, rows: list[dict[str, Any]], embeddings: np.ndarray, model: EmbeddingModel) -> None:
        self.create(model)
        records = [
            {**{name: str(row.get(name) or "") for name in (*TEXT_FIELDS, *LABEL_FIELDS)},
             **{name: float(row.get(name) or 0.0) for name in ("price", *CONFIDENCE_FIELDS)},
             "id": row["id"], "embedding": vector.astype(np.float32).tolist()}
            for row, vector in zip(rows, embeddings)
        ]
        self.client.upsert(self.collection, records)

    def ids(self) -> list[str]:
        """Every stored product id (duplicates would show here: the tests use it)."""
        return [row["id"] for row in self.all_rows(["id"])]

    def browse(self, filter_expr: str = "", limit: int = 20, offset: int = 0) -> list[Hit]:
        """Products that match `filter_expr` in stored order, a page at a time (no vector: the Catalog page)."""
        if not self.exists():
            return []
        rows = self.client.query(self.collection, filter=filter_expr or 'id != ""', output_fields=OUTPUT_FIELDS,
                                 limit=limit, offset=offset)
        return [Hit(row["id"], 0.0, {name: row[name] for name in OUTPUT_FIELDS}) for row in rows]

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored embedding of each of `ids` that is in the collection."""
        if not ids or not self.exists():
            return {}
        rows = self.client.get(self.collection, ids=list(ids), output_fields=["embedding"])
        return {row["id"]: np.asarray(row["embedding"], np.float32) for row in rows}

    def rows(self, fields: list[str], limit: int = 16384) -> list[dict[str, Any]]:
        """Up to `limit` products' values of `fields` (none when the collection does not exist)."""
        if not self.exists():
            return []
        return self.client.query(self.collection, filter="", output_fields=fields, limit=limit)

    def attribute_values(self, limit: int = 16384) -> dict[str, list[str]]:
        """Distinct values of each filterable field (for the dashboard's filter widgets)."""
        rows = self.rows(list(FILTER_FIELDS), limit)
        return {name: sorted({row[name] for row in rows if row[name]}) for name in FILTER_FIELDS}

    def search(self, vector: np.ndarray, model: EmbeddingModel, top_k: int = 10, filter_expr: str = "",
               ef: int | None = None) -> list[Hit]:
        """The `top_k` nearest products; `ef` is HNSW's search breadth (recall against latency, see
        docs/benchmarks.md), by default the one recorded for the collection's size."""
        if not self.exists():
            raise AtelierError(f"collection {self.collection!r} does not exist yet; ingest a catalog first")
        self.check_model(model)
        if not 1 <= top_k <= 1000:
            raise AtelierError("top_k must be between 1 and 1000")
        ef = ef or self.search_ef()
        def search_all(vectors: list[list[float]]) -> list:
            return self.client.search(self.collection, vectors, limit=top_k, filter=filter_expr,
                                      output_fields=OUTPUT_FIELDS,
                                      search_params={"metric_type": "COSINE", "params": {"ef": max(ef, top_k)}})

        found = self.searches.submit((top_k, filter_expr, ef), vector.astype(np.float32).tolist(), search_all)
        hits = [Hit(hit["id"], float(hit["distance"]), dict(hit["entity"])) for hit in found]
        for hit in hits:
            hit.fields["price"] = round(hit.fields["price"], 2)  # stored as float32
        return hits

    def stats(self) -> dict[str, Any]:
        model = self.recorded_model()
        info: dict[str, Any] = {"uri": self.uri, "collection": self.collection, "exists": self.exists(),
                                "rows": self.count(), "embedding_model": json.loads(model.to_json()) if model else None}
        if info["exists"]:
            index = self.client.describe_index(self.collection, "embedding")
            info["index"] = {**{k: index.get(k) for k in ("index_type", "metric_type", "indexed_rows", "state")},
                             **HNSW_GRAPH, "search_ef": self.search_ef()}
        return info
