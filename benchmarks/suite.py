"""The benchmark suite, against any running Triton (gRPC URL + metrics URL) and Milvus (URI).

    atelier bench [--quick] [--triton-url H:P] [--metrics-url URL] [--milvus-uri URI] [--out DIR]
        -> DIR/suite.{json,png,md} (suite_quick.* with --quick)

1. Every contract model the server has ready: latency percentiles and throughput over a sweep of
   concurrency (benchmarks/triton_load.py), with Triton's own queue and compute times per model.
2. Milvus: search latency and recall@10 against exact search, in fresh scratch collections of
   the demo catalog drawn at that size and embedded by the served model (benchmarks/search_latency.py).
3. Ingest end to end, against embedding alone (benchmarks/ingest_throughput.py).

Scratch collections are named atelier_bench_* and dropped afterwards; nothing else is written to
the server. `--quick` is the same suite made small enough for the test suite on a CPU.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as triton_grpc
from tqdm import tqdm
from tritonclient.utils import InferenceServerException

from atelier.catalog_store import CatalogStore
from atelier.config import AtelierError
from atelier.families import SERVED
from atelier.plots import saved_figure
from atelier.processes import visible_gpus
from atelier.triton_client import TritonClient
from benchmarks import ingest_throughput, search_latency, triton_load
from benchmarks.generation_latency import product_picture
from benchmarks.triton_load import GenerationSize

EMBEDDING_MODELS = ("clip_text", "clip_image")
PICTURE_SIDE = 256  # the input picture of edit, inpaint and tryon, unless --size


@dataclass(frozen=True)
class SuiteConfig:
    name: str = "suite"  # the stem of the files written
    models: tuple[str, ...] = SERVED
    embedding_concurrency: tuple[int, ...] = (1, 4, 16, 64)
    embedding_requests: int = 256  # per concurrency level
    generation_concurrency: tuple[int, ...] = (1, 2, 4, 8)  # 8: the generation models' max_batch_size
    generation_requests: int = 16
    generation: GenerationSize = GenerationSize()  # the models' defaults: 1024 px, 30 steps for full SDXL
    search_sizes: tuple[int, ...] = (10_000, 100_000)  # 1M: drawing it takes about an hour here
    search_queries: int = 200
    ingest_products: int = 2000


FULL = SuiteConfig()
QUICK = SuiteConfig(name="suite_quick", embedding_concurrency=(1, 4), embedding_requests=16,
                    generation_concurrency=(1, 2), generation_requests=4,
                    generation=GenerationSize(steps=2, side=64), search_sizes=(2000,), search_queries=50,
                    ingest_products=64)


def metrics_url_for(triton_url: str, metrics_port: int = 8002) -> str:
    """Triton's metrics endpoint on the gRPC URL's host, at Triton's default metrics port."""
    host = triton_url.rsplit(":", 1)[0] if ":" in triton_url else triton_url
    return f"http://{host}:{metrics_port}/metrics"


def _server(triton_url: str, models: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """Triton's name and version, and which of `models` it has ready (health checks: no admin key needed)."""
    client = triton_grpc.InferenceServerClient(triton_url)
    try:
        metadata = client.get_server_metadata(as_json=True)
        ready = [model for model in models if client.is_model_ready(model)]
    except InferenceServerException as error:
        raise AtelierError(f"Triton is not reachable at {triton_url} ({error.message()})") from error
    finally:
        client.close()
    return {"name": metadata.get("name"), "version": metadata.get("version")}, ready


def _search(triton_url: str, milvus_uri: str, config: SuiteConfig, cache_dir: Path) -> list[dict[str, Any]]:
    results = []
    for size in tqdm(config.search_sizes, desc="bench milvus", leave=False):
        store = CatalogStore(milvus_uri, f"atelier_bench_search_{size}")
        if store.exists():
            store.drop()
        try:
            results.append(search_latency.measure(store, TritonClient(triton_url), size, cache_dir,
                                                  config.search_queries))
        finally:
            store.drop()
            store.client.close()
    return results


def run(triton_url: str, metrics_url: str, milvus_uri: str, out: Path, cache_dir: Path, config: SuiteConfig = FULL,
        command: str = "atelier bench") -> dict[str, Any]:
    """Runs the suite and writes <out>/<stem>.json, .png and .md; returns the report. The drawn catalogs' embeddings
    are kept in `cache_dir` for the next run."""
    server, ready = _server(triton_url, config.models)
    if not ready:
        raise AtelierError(f"none of {', '.join(config.models)} is ready on Triton at {triton_url}")
    picture, mask = product_picture(config.generation.side or PICTURE_SIDE)
    pictures = {"product": picture, "mask": mask}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    models = []
    for model in tqdm(ready, desc="bench triton"):
        embedding = model in EMBEDDING_MODELS
        levels = list(config.embedding_concurrency if embedding else config.generation_concurrency)
        requests = config.embedding_requests if embedding else config.generation_requests
        values = triton_load.request_values(model, pictures, config.generation)
        models.append(triton_load.sweep(triton_url, metrics_url, model, values, levels, requests))
    embeds = {"clip_text", "clip_image"} <= set(ready)  # search and ingest need both towers
    search = _search(triton_url, milvus_uri, config, cache_dir) if embeds else []
    with tempfile.TemporaryDirectory() as work:
        ingest = (ingest_throughput.measure(triton_url, milvus_uri, config.ingest_products, Path(work))
                  if embeds else None)
    report = {
        "benchmark": "suite", "command": command, "started": started,
        "config": asdict(config), "triton": {"url": triton_url, "metrics_url": metrics_url, **server},
        "milvus_uri": milvus_uri if "://" in milvus_uri else f"Milvus Lite file {Path(milvus_uri).name}",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "gpus_visible_here": visible_gpus()},
        "models_not_ready": [m for m in config.models if m not in ready],
        "models": models, "search": search, "ingest": ingest,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{config.name}.json").write_text(json.dumps(report, indent=2))
    _plot(report, out / f"{config.name}.png")
    (out / f"{config.name}.md").write_text(summary(report, f"{config.name}.png"))
    return report


def _plot(report: dict[str, Any], path: Path) -> None:
    with saved_figure(path, ncols=2, nrows=2, figsize=(13, 9)) as axes:
        (latency, throughput), (server, search) = axes
        for entry in report["models"]:
            levels = entry["levels"]
            concurrency = [level["concurrency"] for level in levels]
            line, = latency.plot(concurrency, [level["p50_ms"] for level in levels], marker="o",
                                 label=f"{entry['model']} p50")
            latency.plot(concurrency, [level["p99_ms"] for level in levels], linestyle="--", color=line.get_color())
            throughput.plot(concurrency, [level["throughput_rps"] for level in levels], marker="o",
                            label=entry["model"])
        levels = sorted({level["concurrency"] for entry in report["models"] for level in entry["levels"]})
        for axis, label in ((latency, "latency per request (ms); dashed: p99"), (throughput, "requests per second")):
            axis.set_xscale("log", base=2)
            axis.set_xticks(levels, [str(level) for level in levels])
            axis.set_yscale("log")
            axis.set_xlabel("concurrent requests (grpc.aio)")
            axis.set_ylabel(label)
            axis.legend(fontsize=7)
        latency.set_title("latency against concurrency")
        throughput.set_title("throughput against concurrency")

        names = [entry["model"] for entry in report["models"]]
        top = [entry["levels"][-1]["triton"].get(entry["model"], {}) for entry in report["models"]]
        x = np.arange(len(names))
        for offset, key, colour in ((-0.2, "queue_ms", "#d94"), (0.2, "compute_ms", "#284")):
            server.bar(x + offset, [view.get(key, 0.0) for view in top], 0.4, label=key.removesuffix("_ms"),
                       color=colour)
        server.set_xticks(x, names)
        server.set_yscale("log")
        server.set_ylabel("ms per request, Triton's metrics")
        server.set_title("where a request's time goes at the highest concurrency")
        server.tick_params(axis="x", rotation=20)
        server.legend(fontsize=8)

        search_latency.draw(search, report["search"])
        recalls = ", ".join(f"{r['rows']:,} at ef {r['search_ef']}: "
                            + " / ".join(f"{recall:.3f}" for recall in r["recall_at_10"].values())
                            for r in report["search"])
        search.set_title(f"Milvus search (recall@10 vs exact, typed / pictures: {recalls})", fontsize=8)


def _models_table(report: dict[str, Any]) -> list[str]:
    lines = ["| model | concurrency | requests | p50 / p90 / p99 (ms) | req/s | × req/s vs lowest | "
             "Triton queue (ms) | Triton compute (ms) | mean batch |", "|---|---|---|---|---|---|---|---|---|"]
    for entry in report["models"]:
        for level in entry["levels"]:
            view = level["triton"].get(entry["model"], {})
            lines.append(
                f"| {entry['model']} | {level['concurrency']} | {level['requests']} | "
                f"{level['p50_ms']:.1f} / {level['p90_ms']:.1f} / {level['p99_ms']:.1f} | "
                f"{level['throughput_rps']:.2f} | {level['throughput_vs_lowest']:.2f} | "
                f"{view.get('queue_ms', float('nan')):.2f} | {view.get('compute_ms', float('nan')):.2f} | "
                f"{view.get('mean_batch', float('nan')):.2f} |")
    return lines


def _networks_table(report: dict[str, Any]) -> list[str]:
    lines = ["| model | at concurrency | network | requests | queue (ms) | compute (ms) | mean batch |",
             "|---|---|---|---|---|---|---|"]
    for entry in report["models"]:
        top = entry["levels"][-1]
        for network, view in top["triton"].items():
            if network != entry["model"]:
                lines.append(f"| {entry['model']} | {top['concurrency']} | {network} | {view['requests']} | "
                             f"{view['queue_ms']:.2f} | {view['compute_ms']:.2f} | {view['mean_batch']:.2f} |")
    return lines


def _search_table(report: dict[str, Any]) -> list[str]:
    if not report["search"]:
        return ["Not measured: clip_text and clip_image are not both ready on this server."]
    sweep = " / ".join(map(str, search_latency.EF_SWEEP))
    lines = ["The demo catalog drawn at each size and embedded by the served model; queries are typed words and "
             "pictures of products not in the catalog (benchmarks/search_latency.py). Baseline: exact search with "
             "numpy over the same vectors, in the same run. Latency and the first recall at the breadth the "
             "collection recorded for its size; fill includes building and loading the index.", "",
             "| rows | dim | fill (s) | ef | recall@10 typed / pictures | typed recall@10 at ef " + sweep
             + " | p50 / p99 (ms) | filtered p50 / p99 (ms) | in one call (ms per query) | numpy exact p50 (ms) | "
             "× p50 vs numpy |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["search"]:
        recall = " / ".join(f"{value:.3f}" for value in r["recall_at_10"].values())
        by_ef = r["recall_at_10_by_ef"]["typed text"]
        typed_by_ef = " / ".join(f"{by_ef[str(ef)]:.3f}" for ef in search_latency.EF_SWEEP)
        lines.append(f"| {r['rows']:,} | {r['dim']} | {r['fill_s']} | {r['search_ef']} | {recall} | {typed_by_ef} | "
                     f"{r['milvus_single']['p50_ms']:.2f} / {r['milvus_single']['p99_ms']:.2f} | "
                     f"{r['milvus_single_filtered']['p50_ms']:.2f} / {r['milvus_single_filtered']['p99_ms']:.2f} | "
                     f"{r['milvus_in_one_call_per_query_ms']:.2f} | {r['baseline_numpy_exact']['p50_ms']:.2f} | "
                     f"{r['p50_ratio_vs_numpy_exact']:.1f} |")
    return lines


def summary(report: dict[str, Any], png_name: str) -> str:
    """The report as markdown: what ran where, then one table per part."""
    machine = report["machine"]
    lines = [
        f"# Atelier benchmark suite: {report['config']['name']}", "",
        f"Command: `{report['command']}`, started {report['started']}.",
        f"Triton {report['triton']['version']} at {report['triton']['url']}; Milvus: {report['milvus_uri']}.",
        f"Client machine: {machine['platform']}, {machine['cpus']} CPUs, GPUs visible here: "
        f"{', '.join(machine['gpus_visible_here']) or 'none'}.", "",
    ]
    generation = report["config"]["generation"]
    steps, side = (generation[key] or "the model's default" for key in ("steps", "side"))
    lines += [f"Generation requests: seed 0; steps: {steps}; txt2img size: {side}; edit, inpaint and tryon: a "
              f"{generation['side'] or PICTURE_SIDE} px input picture.", ""]
    if report["models_not_ready"]:
        lines += [f"Not measured (not ready on this server): {', '.join(report['models_not_ready'])}.", ""]
    lines += ["## Triton models over concurrency", "",
              "Baseline: the same model at the lowest concurrency, in the same run. Queue and compute are "
              "Triton's own per-request means from its metrics endpoint.", "", *_models_table(report), "",
              "Networks the Python (BLS) models called, at the highest concurrency:", "", *_networks_table(report),
              "", "## Milvus search, top 10", "", *_search_table(report), ""]
    ingest = report["ingest"]
    lines += ["", "## Ingest end to end", ""]
    if ingest:
        lines += ["Baseline: embedding the same images alone (clip_image, batch 64), in the same run.", "",
                  "| products | upserted | rejected | products/s | embedding only/s | × vs embedding only |",
                  "|---|---|---|---|---|---|",
                  f"| {ingest['products']} | {ingest['upserted']} | {ingest['rejected']} | "
                  f"{ingest['products_per_s']} | {ingest['baseline_embed_only_per_s']} | "
                  f"{ingest['ratio_vs_embed_only']} |"]
    else:
        lines.append("Not measured: clip_text and clip_image are not both ready on this server.")
    lines += ["", f"![suite]({png_name})", ""]
    return "\n".join(lines)
