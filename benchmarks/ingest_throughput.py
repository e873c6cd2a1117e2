"""End-to-end ingest throughput: a demo catalog CSV -> validate -> load images -> embed (Triton) -> label ->
Milvus upsert, into a scratch collection that is dropped afterwards.

The baseline, measured in the same run on the same images, is embedding alone: clip_image at batch
64 through the same Triton. The ratio says what share of the embedding rate survives the rest of
the pipeline (reading, decoding, labels, fingerprints, the Milvus upsert).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from atelier.catalog_store import CatalogStore
from atelier.demo_catalog import write_catalog
from atelier.triton_client import MAX_BATCH, TritonClient
from ingest.pipeline import ingest_catalog
from ingest.sources import read_catalog

COLLECTION = "atelier_bench_ingest"


def measure(triton_url: str, milvus_uri: str, count: int, work: Path) -> dict[str, Any]:
    csv_path = write_catalog(work / "catalog", count=count, progress=False)
    triton = TritonClient(triton_url)
    store = CatalogStore(milvus_uri, COLLECTION)
    if store.exists():
        store.drop()
    try:
        start = time.perf_counter()
        report = ingest_catalog(csv_path, triton, store, work / "rejects.jsonl", progress=False)
        ingest_s = time.perf_counter() - start
        stored = store.count()
    finally:
        store.drop()
        store.client.close()

    rows, _ = read_catalog(csv_path)
    images = [Path(row["image_uri"]).read_bytes() for row in rows]
    start = time.perf_counter()
    for offset in range(0, len(images), MAX_BATCH):
        triton.embed_images(images[offset : offset + MAX_BATCH])
    embed_s = time.perf_counter() - start
    ingest_rate, embed_rate = report.upserted / ingest_s, len(images) / embed_s
    return {"products": count, "upserted": report.upserted, "rejected": report.rejected, "stored": stored,
            "ingest_s": round(ingest_s, 2), "products_per_s": round(ingest_rate, 1),
            "baseline_embed_only_per_s": round(embed_rate, 1),
            "ratio_vs_embed_only": round(ingest_rate / embed_rate, 2)}
