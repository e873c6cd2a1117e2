"""`atelier bench`: the benchmark suite against a running stack, and the single benchmarks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from atelier.config import Settings


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def suite_config(args: argparse.Namespace):
    from dataclasses import replace

    from benchmarks.suite import FULL, QUICK, GenerationSize

    config = QUICK if args.quick else FULL
    overrides: dict = {}
    if args.models:
        overrides["models"] = tuple(args.models.split(","))
    if args.concurrency:
        overrides["embedding_concurrency"] = overrides["generation_concurrency"] = _ints(args.concurrency)
    if args.requests:
        overrides["embedding_requests"] = overrides["generation_requests"] = args.requests
    if args.steps or args.size:
        overrides["generation"] = GenerationSize(args.steps or config.generation.steps,
                                                 args.size or config.generation.side)
    if args.sizes:
        overrides["search_sizes"] = _ints(args.sizes)
    if args.ingest_products:
        overrides["ingest_products"] = args.ingest_products
    return replace(config, **overrides)


def run(args: argparse.Namespace, settings: Settings) -> None:
    from benchmarks import clip_throughput, generation_latency, search_latency, search_load, suite

    out = Path(args.out)
    if args.what == "suite":
        triton_url = args.triton_url or settings.triton_url
        result = suite.run(triton_url, args.metrics_url or suite.metrics_url_for(triton_url),
                           args.milvus_uri or settings.milvus_uri, out, settings.home / "cache", suite_config(args),
                           command=" ".join(["atelier", *sys.argv[1:]]))
        print(f"wrote {out / result['config']['name']}.json, .png and .md", file=sys.stderr)
    elif args.what == "load":
        result = search_load.run(args.triton_url or settings.triton_url, args.milvus_uri or settings.milvus_uri,
                                 settings.collection, out, clients=args.clients, seconds=args.seconds)
    elif args.what == "clip":
        result = clip_throughput.run(settings, out, requests=args.requests or 256)
    elif args.what == "generation":
        result = generation_latency.run(settings, out, requests=args.requests or 24, steps=args.steps or 20,
                                        size=args.size or 256)
    else:
        sizes = list(_ints(args.sizes or "10000,100000"))
        result = search_latency.run(args.triton_url, settings.model_repository, out, sizes, settings.home / "cache")
    print(json.dumps(result, indent=2))


def register(sub: argparse._SubParsersAction) -> None:
    """`bench`."""
    p = sub.add_parser("bench", help="benchmarks: with no name, the suite against a running Triton and Milvus "
                                     "(docs/benchmarks.md); clip, generation: through a fresh embedded Triton against "
                                     "in-process ONNX Runtime; search: the demo catalog drawn at each size, embedded "
                                     "through Triton, in Milvus Lite against numpy; load: many clients "
                                     "searching the running stack's catalog at once")
    p.add_argument("what", nargs="?", default="suite", choices=["suite", "clip", "generation", "search", "load"])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="suite: a small run (two concurrency levels, 2 denoising "
                                                         "steps at 64 px, 2,000 rows, 64 products), for tests")
    p.add_argument("--triton-url", help="Triton's gRPC URL: suite, load (default: $ATELIER_TRITON_URL); search "
                                        "(default: a fresh embedded Triton)")
    p.add_argument("--metrics-url", help="suite: Triton's metrics endpoint (default: http://<triton "
                                         "host>:8002/metrics)")
    p.add_argument("--milvus-uri", help="suite, load: Milvus URI (default: $ATELIER_MILVUS_URI); scratch collections "
                                        "atelier_bench_* are made there and dropped")
    p.add_argument("--models", help="suite: comma-separated contract models (default: all that are ready)")
    p.add_argument("--concurrency", help="suite: comma-separated concurrency levels for every model (default: "
                                         "1,4,16,64 for clip, 1,2,4,8 for generation)")
    p.add_argument("--ingest-products", type=int, help="suite: demo products to ingest (default 2000)")
    p.add_argument("--requests", type=int,
                   help="clip, generation: requests per measurement (default: clip 256, generation 24); suite: "
                        "per concurrency level (default: clip 256, generation 16)")
    p.add_argument("--steps", type=int, help="generation (default 20), suite (default: the model's): denoising steps")
    p.add_argument("--size", type=int, help="generation (default 256), suite (default: the model's): image side")
    p.add_argument("--sizes", help="search, suite (default 10000,100000): "
                                   "collection sizes")
    p.add_argument("--clients", type=int, default=16, help="load: clients at once (default 16)")
    p.add_argument("--seconds", type=float, default=60.0, help="load: how long they search (default 60)")
    p.set_defaults(func=run)
