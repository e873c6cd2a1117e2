"""Search at catalog scale: recall and latency of the catalog collection (Milvus, through CatalogStore) on real-like
embeddings, against exact search with numpy.

For each size, the demo catalog drawn at that size (atelier/demo_catalog.py) is embedded by the served model
(clip_image through Triton; cached per size and model), stored through CatalogStore as ingest stores it and sealed,
which records the search breadth the product uses at that size (catalog_store.search_breadth). The queries are what
people give: typed words ("trousers", "navy trousers", "red polka-dot coat"; clip_text) and pictures of products
that are not in the catalog (clip_image). Reported per size:
- recall@10 against exact search for each kind of query, at the product's breadth and at each breadth of EF_SWEEP;
- p50/p99 of single searches at the product's breadth, plain and filtered, and the cost per query of one call
  that carries all the queries (what a page that needs several searches pays when it sends them at once);
- the baseline, in the same run: exact search with numpy over the same vectors.

    atelier bench search [--sizes 10000,100000] [--triton-url H:P]   (without a URL, through a fresh embedded Triton)
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from atelier.catalog_store import CatalogStore, build_filter
from atelier.config import AtelierError
from atelier.demo_catalog import Product, draw_product, generate_products
from atelier.images import png_bytes
from atelier.plots import saved_figure
from atelier.ports import free_port
from atelier.triton_client import MAX_BATCH, EmbeddingModel, TritonClient
from atelier.triton_server import EmbeddedTriton, TritonPorts
from atelier.vocabulary import typed

QUERIES = 200  # single searches timed per size
EF_SWEEP = (16, 64, 256, 1024)
QUERY_SETS = (("garment",), ("color", "garment"), ("pattern", "garment"), ("color", "pattern", "garment"))
TYPED_PER_SET = 40  # typed queries drawn from each set's value combinations in the catalog
HELD_OUT_PICTURES = 100
PICTURE_SIDE = 128  # the demo catalog's
DRAW_CHUNK = 512
FILL_CHUNK = 5000


def _pictures(products: list[Product]) -> list[bytes]:
    return [png_bytes(draw_product(product, PICTURE_SIDE)) for product in products]


def embedded_pictures(triton: TritonClient, products: list[Product], desc: str) -> np.ndarray:
    """clip_image's embeddings of the products' pictures, drawn in a process per core while Triton embeds."""
    chunks = [products[start : start + DRAW_CHUNK] for start in range(0, len(products), DRAW_CHUNK)]
    vectors = []
    with multiprocessing.get_context("spawn").Pool() as pool:  # spawn: the gRPC channel must not be forked
        for pictures in tqdm(pool.imap(_pictures, chunks), total=len(chunks), desc=desc, leave=False):
            vectors.append(triton.embed_images(pictures)[0])
    return np.concatenate(vectors)


def catalog_vectors(triton: TritonClient, products: list[Product], cache: Path) -> np.ndarray:
    """The catalog's embeddings, from `cache` where an earlier run left them (drawing 100k pictures takes minutes)."""
    if cache.exists():
        return np.load(cache)
    vectors = embedded_pictures(triton, products, f"draw and embed {len(products):,} products")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def typed_queries(products: list[Product], seed: int) -> list[str]:
    """TYPED_PER_SET queries of each of QUERY_SETS, as people type them, for value combinations the catalog has."""
    rng, texts = random.Random(seed), []
    for named in QUERY_SETS:
        combinations = sorted({typed({name: getattr(product, name) for name in named}) for product in products})
        texts += rng.sample(combinations, min(TYPED_PER_SET, len(combinations)))
    return texts


def _embedded_queries(triton: TritonClient, texts: list[str], seed: int) -> dict[str, np.ndarray]:
    text_vectors = np.concatenate([triton.embed_texts(texts[start : start + MAX_BATCH])[0]
                                   for start in range(0, len(texts), MAX_BATCH)])
    held_out = generate_products(HELD_OUT_PICTURES, seed=seed + 1)
    return {"typed text": text_vectors, "pictures": embedded_pictures(triton, held_out, "embed query pictures")}


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def _fill(store: CatalogStore, products: list[Product], vectors: np.ndarray, model: EmbeddingModel) -> None:
    for start in tqdm(range(0, len(products), FILL_CHUNK), desc=f"store {len(products):,}", leave=False):
        chunk = products[start : start + FILL_CHUNK]
        rows = [{"id": p.id, "title": p.title, "category": p.category, "garment": p.garment, "color": p.color,
                 "pattern": p.pattern, "brand": p.brand, "price": p.price, "image_uri": p.image} for p in chunk]
        store.upsert(rows, vectors[start : start + len(rows)], model)
    store.seal()


def index_in_use(store: CatalogStore, timeout_s: float = 3600.0) -> None:
    """Waits for the HNSW index over every row, then reloads the collection so that searches use it.

    Right after a flush Milvus searches the new segments without their index (exactly) until the
    index is built and loaded: measuring then would mix exact and HNSW searches.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        index = store.client.describe_index(store.collection, "embedding")
        if index.get("state") == "Finished" and not index.get("pending_index_rows"):
            break
        if time.monotonic() > deadline:
            raise AtelierError(f"the index of {store.collection} was not built within {timeout_s:.0f} s: {index}")
        time.sleep(0.5)
    store.client.release_collection(store.collection)
    store.client.load_collection(store.collection)


def _searched_at_once(store: CatalogStore, queries: np.ndarray, ef: int) -> tuple[list[list[str]], float]:
    """Every query's top 10 in one Milvus call at breadth `ef` (CatalogStore's search parameters), and its seconds."""
    start = time.perf_counter()
    found = store.client.search(store.collection, queries.tolist(), limit=10,
                                search_params={"metric_type": "COSINE", "params": {"ef": ef}})
    return [[hit["id"] for hit in hits] for hits in found], time.perf_counter() - start


def recall_at_10(found: list[list[str]], similarities: np.ndarray, row_of: dict[str, int]) -> float:
    """Recall@10 against exact search: the share of each query's exact top 10 that was found, where a found product
    as near as the exact tenth counts as one of them (in a catalog of look-alikes, which of several equally near
    products is tenth is arbitrary)."""
    tenth = np.sort(similarities, axis=1)[:, -10]
    return float(np.mean([sum(similarities[q, row_of[id_]] >= tenth[q] - 1e-6 for id_ in ids[:10]) / 10
                          for q, ids in enumerate(found)]))


def measure(store: CatalogStore, triton: TritonClient, size: int, cache_dir: Path,
            query_count: int = QUERIES) -> dict[str, Any]:
    """Fills `store` (a fresh collection) with the demo catalog drawn at `size`, then measures recall and latency."""
    model = triton.embedding_model()
    products = generate_products(size, seed=0)
    vectors = catalog_vectors(triton, products, cache_dir / f"demo-catalog-{size}-{model.weights_sha256[:12]}.npy")
    texts = typed_queries(products, seed=size)
    queries = _embedded_queries(triton, texts, seed=size)
    start = time.perf_counter()
    _fill(store, products, vectors, model)
    index_in_use(store)
    fill_s = time.perf_counter() - start
    ef = store.search_ef()

    row_of = {product.id: row for row, product in enumerate(products)}
    recall_by_ef: dict[str, dict[str, float]] = {kind: {} for kind in queries}
    for kind, batch in queries.items():
        similarities = batch @ vectors.T
        for breadth in sorted({*EF_SWEEP, ef}):
            found, _ = _searched_at_once(store, batch, breadth)
            recall_by_ef[kind][str(breadth)] = round(recall_at_10(found, similarities, row_of), 4)

    every = np.concatenate(list(queries.values()))
    mixed = every[np.random.default_rng(size).choice(len(every), query_count, replace=query_count > len(every))]
    store.search(mixed[0], model, top_k=10)  # warm-up
    plain, filtered, exact_times = [], [], []
    expr = build_filter({"category": ["dresses"], "color": ["red", "navy"]})
    for query in mixed:
        start = time.perf_counter()
        store.search(query, model, top_k=10)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.search(query, model, top_k=10, filter_expr=expr)
        filtered.append(time.perf_counter() - start)
        start = time.perf_counter()
        np.argpartition(-(vectors @ query), 10)[:10]
        exact_times.append(time.perf_counter() - start)
    _, at_once_s = _searched_at_once(store, mixed, ef)
    result = {
        "rows": size, "dim": model.dim, "embedding_model": model.id, "fill_s": round(fill_s, 1), "search_ef": ef,
        "queries": {kind: len(batch) for kind, batch in queries.items()}, "examples": texts[:3],
        "recall_at_10": {kind: by_ef[str(ef)] for kind, by_ef in recall_by_ef.items()},
        "recall_at_10_by_ef": recall_by_ef,
        "milvus_single": _percentiles(plain), "milvus_single_filtered": _percentiles(filtered),
        "milvus_in_one_call_per_query_ms": round(at_once_s / len(mixed) * 1000, 3),
        "baseline_numpy_exact": _percentiles(exact_times),
    }
    result["p50_ratio_vs_numpy_exact"] = round(result["milvus_single"]["p50_ms"]
                                               / max(result["baseline_numpy_exact"]["p50_ms"], 1e-6), 2)
    return result


def run(triton_url: str | None, repository: Path, out: Path, sizes: list[int], cache_dir: Path) -> dict[str, Any]:
    """Measures each of `sizes` through the Triton at `triton_url`, or through a fresh embedded one serving
    `repository` where no URL is given."""
    if triton_url is None:
        with tempfile.TemporaryDirectory() as work:
            ports = TritonPorts(free_port(), free_port(), free_port())
            with EmbeddedTriton(repository, Path(work) / "runtime", ports) as server:
                return run(server.grpc_url, repository, out, sizes, cache_dir)
    triton = TritonClient(triton_url)
    results = []
    with tempfile.TemporaryDirectory() as work:
        for size in tqdm(sizes, desc="bench search"):
            store = CatalogStore(str(Path(work) / f"bench_{size}.db"), "bench")
            results.append(measure(store, triton, size, cache_dir))
            store.client.close()
    report = {"benchmark": "search_latency", "queries_per_size": QUERIES, "top_k": 10,
              "machine": {"platform": platform.platform()}, "results": results}
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_latency.json").write_text(json.dumps(report, indent=2))
    with saved_figure(out / "search_latency.png", figsize=(7, 4)) as axis:
        draw(axis, results)
    return report


def draw(axis: Any, results: list[dict[str, Any]]) -> None:
    """p50 and p99 search latency against collection size, Milvus and the numpy baseline."""
    rows = [r["rows"] for r in results]
    for key, label in (("milvus_single", "Milvus"), ("milvus_single_filtered", "Milvus + filter"),
                       ("baseline_numpy_exact", "numpy exact (baseline)")):
        axis.plot(rows, [r[key]["p50_ms"] for r in results], marker="o", label=f"{label} p50")
        axis.plot(rows, [r[key]["p99_ms"] for r in results], marker="x", linestyle="--", label=f"{label} p99")
    axis.plot(rows, [r["milvus_in_one_call_per_query_ms"] for r in results], marker="s",
              label="Milvus, all queries in one call (per query)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("rows (the demo catalog drawn at that size)")
    axis.set_ylabel("search latency, top 10 (ms)")
    axis.legend(fontsize=7)
