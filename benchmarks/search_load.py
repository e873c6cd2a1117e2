"""Many people searching at once: `clients` threads for `seconds` against a running Triton and Milvus.

Each client takes the request kinds in turn: text, image and combined catalog searches (the Discover page's
three) and the bare clip_text and clip_image calls under them. Reported per kind: requests, failures, p50/p99;
and the resident memory of the Triton and Milvus processes, sampled every second. The baseline, measured in the
same run just before: one client alone, `baseline_rounds` of each kind.

    atelier bench load [--clients 16] [--seconds 60]   -> benchmarks/results/search_load.{json,png}
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from atelier.catalog_store import CatalogStore
from atelier.config import AtelierError
from atelier.plots import saved_figure
from atelier.search import CatalogSearch, Query
from atelier.triton_client import TritonClient
from ingest.fetch import STORED, Unusable, load_images

QUERIES = ("navy trousers", "a red striped shirt", "black dress", "linen shirt", "polka-dot coat", "tops")
SERVER_PROCESSES = ("tritonserver", "triton_python_backend_stub", "milvus")  # matched in command lines


def request_kinds(search: CatalogSearch, triton: TritonClient, image: bytes) -> dict[str, Callable[[int], Any]]:
    """What a client sends, by kind; each takes the request's number (to vary the text)."""
    return {
        "text search": lambda n: search.search(Query(text=QUERIES[n % len(QUERIES)])),
        "image search": lambda n: search.search(Query(image=image)),
        "text + image search": lambda n: search.search(Query(text=QUERIES[n % len(QUERIES)], image=image)),
        "clip_text": lambda n: triton.embed_texts([QUERIES[n % len(QUERIES)]]),
        "clip_image": lambda n: triton.embed_images([image]),
    }


def server_rss_mib() -> dict[str, float]:
    """Resident memory of the serving processes on this machine, summed by kind."""
    totals: dict[str, float] = defaultdict(float)
    for process in psutil.process_iter(["cmdline", "memory_info"]):
        command = " ".join(process.info["cmdline"] or [])
        for name in SERVER_PROCESSES:
            if name in command and process.info["memory_info"] is not None:
                totals[name] += process.info["memory_info"].rss / 2**20
                break
    return dict(totals)


def _summary(latencies_s: list[float], failures: int) -> dict[str, float]:
    ms = np.asarray(latencies_s) * 1000
    return {"requests": len(latencies_s) + failures, "failures": failures,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan")}


def run_clients(kinds: dict[str, Callable[[int], Any]], clients: int, seconds: float) -> dict[str, Any]:
    """`clients` threads sending the kinds in turn until `seconds` have passed; RSS sampled every second."""
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    names = list(kinds)

    def client(number: int) -> None:
        n = number
        while time.monotonic() < stop_at:
            kind = names[n % len(names)]
            started = time.perf_counter()
            try:
                kinds[kind](n)
            except AtelierError as error:
                with lock:
                    failures[kind] += 1
                    errors.append(f"{kind}: {error}")
            else:
                with lock:
                    latencies[kind].append(time.perf_counter() - started)
            n += 1

    memory = [{"t_s": 0.0, **server_rss_mib()}]
    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(1.0)
        memory.append({"t_s": round(time.monotonic() - started, 1), **server_rss_mib()})
    wall = time.monotonic() - started
    kinds_report = {kind: _summary(latencies[kind], failures[kind]) for kind in names}
    total = sum(report["requests"] for report in kinds_report.values())
    return {"clients": clients, "seconds": round(wall, 1), "requests": total,
            "requests_per_s": round(total / wall, 1), "kinds": kinds_report, "rss_mib": memory,
            "first_errors": errors[:5]}


def run(triton_url: str, milvus_uri: str, collection: str, out: Path, clients: int = 16, seconds: float = 60.0,
        baseline_rounds: int = 10) -> dict[str, Any]:
    store = CatalogStore(milvus_uri, collection)
    if store.count() == 0:
        raise AtelierError(f"collection {collection!r} is empty: ingest a catalog first")
    image_uri = store.rows(["image_uri"], limit=1)[0]["image_uri"]
    image = load_images([image_uri], STORED)[0]
    if isinstance(image, Unusable):
        raise AtelierError(f"the first product's image cannot be loaded: {image}")
    triton = TritonClient(triton_url)
    kinds = request_kinds(CatalogSearch(triton, store), triton, image)
    for call in kinds.values():
        call(0)  # warm up: the first call of each kind loads and connects
    baseline = {kind: _summary(_timed(call, baseline_rounds), 0) for kind, call in kinds.items()}
    loaded = run_clients(kinds, clients, seconds)
    for kind, report in loaded["kinds"].items():
        report["p50_vs_one_client"] = round(report["p50_ms"] / baseline[kind]["p50_ms"], 2)
    result = {"collection": collection, "products": store.count(), "one_client": baseline, "loaded": loaded}
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_load.json").write_text(json.dumps(result, indent=2))
    _plot(result, out / "search_load.png")
    return result


def _timed(call: Callable[[int], Any], rounds: int) -> list[float]:
    latencies = []
    for n in range(rounds):
        started = time.perf_counter()
        call(n)
        latencies.append(time.perf_counter() - started)
    return latencies


def _plot(result: dict[str, Any], path: Path) -> None:
    loaded, names = result["loaded"], list(result["one_client"])
    with saved_figure(path, ncols=2, figsize=(12, 4)) as (latency, memory):
        x = np.arange(len(names))
        latency.bar(x - 0.2, [result["one_client"][n]["p50_ms"] for n in names], 0.4, label="1 client, p50")
        latency.bar(x + 0.2, [loaded["kinds"][n]["p50_ms"] for n in names], 0.4,
                    label=f"{loaded['clients']} clients, p50")
        latency.scatter(x + 0.2, [loaded["kinds"][n]["p99_ms"] for n in names], color="black", zorder=3,
                        label=f"{loaded['clients']} clients, p99")
        latency.set_xticks(x, names, rotation=20, ha="right")
        latency.set_ylabel("ms")
        latency.legend()
        for name in SERVER_PROCESSES:
            memory.plot([s["t_s"] for s in loaded["rss_mib"]], [s.get(name, 0.0) for s in loaded["rss_mib"]],
                        label=name)
        memory.set_xlabel("seconds")
        memory.set_ylabel("RSS (MiB)")
        memory.legend()
