"""Search latency of the embedded catalog (Milvus Lite, HNSW, cosine) at several collection sizes.

For each size a fresh collection is filled with random unit vectors and demo-like attributes
through the same CatalogStore code the product uses. Reported per size: p50/p99 of single-query
search, unfiltered and with an attribute filter, recall@10 of HNSW against exact search (also at
other search breadths `ef`), and the baseline measured in the same run: exact brute-force search
with numpy over the same vectors. Fill time includes building and loading the index.

    atelier bench search [--sizes 10000,100000] [--dim 128]   -> benchmarks/results/search_latency.{json,png}
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from atelier.catalog_store import SEARCH_EF, CatalogStore, build_filter
from atelier.config import AtelierError
from atelier.plots import saved_figure
from atelier.triton_client import EmbeddingModel

QUERIES = 200
EF_SWEEP = (16, 64, 256, 1024)
EF_SWEEP_QUERIES = 50
CATEGORIES = ("tops", "dresses", "bottoms", "outerwear")
COLOURS = ("black", "white", "red", "navy", "sage", "beige")


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def _fill(store: CatalogStore, vectors: np.ndarray, model: EmbeddingModel, rng: np.random.Generator) -> None:
    chunk = 5000
    for start in tqdm(range(0, len(vectors), chunk), desc=f"insert {len(vectors)}", leave=False):
        rows = [{"id": f"p{i}", "title": f"product {i}", "category": CATEGORIES[i % 4],
                 "color": COLOURS[int(rng.integers(len(COLOURS)))], "price": float(i % 200), "image_uri": ""}
                for i in range(start, min(start + chunk, len(vectors)))]
        store.upsert(rows, vectors[start : start + len(rows)], model)
    store.seal()


def _recall(hits: list, nearest: set[str]) -> float:
    return len(nearest & {hit.id for hit in hits}) / len(nearest)


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


def measure(store: CatalogStore, size: int, dim: int, query_count: int = QUERIES) -> dict[str, Any]:
    """Fills `store` (a fresh collection) with `size` random rows and times `query_count` searches in it.

    Latency is measured at the product's search breadth (SEARCH_EF); recall@10 against exact search
    also at the other breadths in EF_SWEEP, on the first EF_SWEEP_QUERIES queries.
    """
    rng = np.random.default_rng(size)
    vectors = _unit(rng, size, dim)
    queries = _unit(rng, query_count, dim)
    model = EmbeddingModel("bench-random", "0" * 64, dim)
    start = time.perf_counter()
    _fill(store, vectors, model, rng)
    index_in_use(store)
    fill_s = time.perf_counter() - start

    exact = [{f"p{i}" for i in np.argsort(-(vectors @ query))[:10]} for query in queries]
    store.search(queries[0], model, top_k=10)  # warm-up
    plain, filtered, recalls = [], [], []
    expr = build_filter({"category": ["dresses"], "color": ["red", "navy"]})
    for query, nearest in zip(queries, exact):
        start = time.perf_counter()
        hits = store.search(query, model, top_k=10)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.search(query, model, top_k=10, filter_expr=expr)
        filtered.append(time.perf_counter() - start)
        recalls.append(_recall(hits, nearest))
    sample = list(zip(queries, exact))[:EF_SWEEP_QUERIES]
    by_ef = {str(ef): round(float(np.mean([_recall(store.search(query, model, 10, ef=ef), nearest)
                                           for query, nearest in sample])), 4) for ef in EF_SWEEP}

    exact_times = []
    for query in queries:
        start = time.perf_counter()
        np.argpartition(-(vectors @ query), 10)[:10]
        exact_times.append(time.perf_counter() - start)
    result = {
        "rows": size, "dim": dim, "queries": query_count, "fill_s": round(fill_s, 1), "ef": SEARCH_EF,
        "milvus_hnsw": _percentiles(plain), "milvus_hnsw_filtered": _percentiles(filtered),
        "recall_at_10_vs_exact": round(float(np.mean(recalls)), 4),
        "recall_at_10_by_ef": by_ef,
        "baseline_numpy_exact": _percentiles(exact_times),
    }
    result["p50_ratio_vs_numpy_exact"] = round(result["milvus_hnsw"]["p50_ms"]
                                               / max(result["baseline_numpy_exact"]["p50_ms"], 1e-6), 2)
    return result


def run(out: Path, sizes: list[int], dim: int = 128) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory() as work:
        for size in tqdm(sizes, desc="bench search"):
            store = CatalogStore(str(Path(work) / f"bench_{size}.db"), "bench")
            results.append(measure(store, size, dim))
            store.client.close()
    report = {"benchmark": "search_latency", "queries_per_size": QUERIES, "top_k": 10,
              "machine": {"platform": platform.platform()}, "results": results}
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_latency.json").write_text(json.dumps(report, indent=2))
    _plot(report, out / "search_latency.png")
    return report


def _plot(report: dict[str, Any], path: Path) -> None:
    with saved_figure(path, figsize=(7, 4)) as axis:
        draw(axis, report["results"])


def draw(axis: Any, results: list[dict[str, Any]]) -> None:
    """p50 and p99 search latency against collection size, Milvus and the numpy baseline."""
    rows = [r["rows"] for r in results]
    for key, label in (("milvus_hnsw", "Milvus HNSW"), ("milvus_hnsw_filtered", "HNSW + filter"),
                       ("baseline_numpy_exact", "numpy exact (baseline)")):
        axis.plot(rows, [r[key]["p50_ms"] for r in results], marker="o", label=f"{label} p50")
        axis.plot(rows, [r[key]["p99_ms"] for r in results], marker="x", linestyle="--", label=f"{label} p99")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("rows")
    axis.set_ylabel("search latency, top 10 (ms)")
    axis.legend(fontsize=7)
