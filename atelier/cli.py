"""The `atelier` command line. Heavy imports (torch, open_clip) happen inside the subcommands that need them."""

from __future__ import annotations

import argparse
import errno
import json
import sys
import time
from pathlib import Path

from atelier.config import PROFILES, AtelierError, Settings
from atelier.diffusion.inputs import GARMENT_TYPES
from atelier.processes import stop_on_signals
from atelier.triton_server import TritonPorts

# Disk errors end a command with one line, not a traceback: the user mends them outside Atelier.
DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied"}


def _add_triton_ports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)


def _ports(args: argparse.Namespace) -> TritonPorts:
    return TritonPorts(args.http_port, args.grpc_port, args.metrics_port)


def cmd_export(args: argparse.Namespace, settings: Settings) -> None:
    repository = Path(args.model_repository or settings.model_repository)
    families = args.only or ["clip", "txt2img", "edit", "inpaint", "tryon"]
    from export.tensorrt import build_engines, restore_onnx_configs

    restored = restore_onnx_configs(repository, families)  # a fresh ONNX export makes old engines stale
    if restored:
        print(f"back to ONNX Runtime: {', '.join(restored)}", file=sys.stderr)
    if "clip" in families:
        from export.clip import export_clip, load_clip
        from export.parity import parity_report

        print(f"building the {args.profile} CLIP model {args.model_name or ''}".rstrip(), file=sys.stderr)
        bundle = load_clip(args.profile, args.model_name, Path(args.checkpoint) if args.checkpoint else None)
        record = export_clip(bundle, repository)
        print(f"exported {record['id']} (dim {record['dim']}) to {repository}", file=sys.stderr)
        print(json.dumps(parity_report(repository)["onnxruntime_vs_torch"]), file=sys.stderr)
    if "parser" in families:
        from export.human_parser import export_human_parser

        record = export_human_parser(repository, args.profile, args.parser_source)
        print(f"exported tryon_parser ({record['source'] or 'tiny, random weights'}, licence: {record['licence']}); "
              "tryon now derives the mask of a request that sends none", file=sys.stderr)
    if "warping" in families:
        if not args.warping_checkpoint:
            raise AtelierError("--only warping needs --warping-checkpoint (from `atelier train warping`)")
        from export.warping import export_warping_model

        record = export_warping_model(repository, args.warping_checkpoint)
        print(f"exported tryon_warp ({record['size'][0]}x{record['size'][1]}); ONNX Runtime vs PyTorch max abs diff "
              f"{record['onnx_vs_torch_max_abs']:.1e}; tryon now pre-warps garments with it", file=sys.stderr)
    pipelines = tuple(f for f in families if f not in ("clip", "parser", "warping"))
    if pipelines:
        from export.diffusion import export_pipelines

        sources = {kind: getattr(args, f"{kind}_source") for kind in pipelines}
        if "tryon" in pipelines and args.profile == "full" and not args.tryon_attention:
            print("tryon: loading CatVTON's self-attention weights (zhengchong/CatVTON), licensed CC BY-NC-SA 4.0: "
                  "non-commercial use only", file=sys.stderr)
        records = export_pipelines(repository, args.profile, pipelines, sources, args.lora, args.lora_scale,
                                   args.tryon_attention)
        for kind, record in records.items():
            worst = max(record["onnx_vs_torch_max_abs"].values())
            print(f"exported {kind} ({', '.join(record['networks'])}); ONNX Runtime vs PyTorch max abs diff "
                  f"{worst:.1e}", file=sys.stderr)
    if args.trt:
        build_engines(repository, families)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.triton_server import EmbeddedTriton, admin_key, admin_key_hint

    repository = Path(args.model_repository or settings.model_repository)
    key, key_location = admin_key(settings)
    server = EmbeddedTriton(repository, settings.home / "triton-runtime", _ports(args),
                            log_path=settings.home / "logs" / "tritonserver.log", admin_key=key)
    stop_on_signals()
    print(f"starting Triton on {repository} ...", file=sys.stderr)
    try:  # Ctrl-C or SIGTERM at any point, even during start-up, stops the server cleanly
        server.start()
        print(f"Triton ready: HTTP :{args.http_port}, gRPC :{args.grpc_port}, metrics :{args.metrics_port} "
              f"(log {server.log_path}); Ctrl-C stops it", file=sys.stderr)
        print(admin_key_hint(key_location), file=sys.stderr)
        # Polling rather than signal.pause(): a signal that lands just before pause() would be missed,
        # and a Triton that dies would go unnoticed.
        while server.running():
            time.sleep(0.5)
        raise AtelierError(f"Triton stopped unexpectedly; see {server.log_path}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print("Triton stopped", file=sys.stderr)


def cmd_up(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.stack import run_stack

    run_stack(settings, _ports(args), dashboard_port=args.port, milvus_port=args.milvus_port,
              demo_count=args.demo_count)


def cmd_demo_catalog(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.demo_catalog import write_catalog

    out = Path(args.out or settings.demo_catalog_dir)
    csv_path = write_catalog(out, count=args.count, seed=args.seed)
    print(csv_path)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.catalog_store import CatalogStore
    from atelier.triton_client import TritonClient
    from ingest.fetch import ImageSources
    from ingest.pipeline import ingest_catalog

    source = Path(args.source)
    rejects = Path(args.rejects) if args.rejects else settings.home / "rejects" / f"{source.stem}.jsonl"
    sources = ImageSources.under(args.image_root or [Path.cwd(), source.parent], args.allow_private)
    report = ingest_catalog(source, TritonClient(settings.triton_url), CatalogStore(settings.milvus_uri,
                            settings.collection), rejects, batch_size=args.batch_size, progress=not args.json,
                            sources=sources)
    summary = report.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print("\n".join(f"{k}: {v}" for k, v in summary.items()))


def cmd_trends(args: argparse.Namespace, settings: Settings) -> None:
    """`trends import FILE`: an export of social posts into the trends collection; `trends demo`: the demo's posts."""
    from atelier.trend_store import TrendStore
    from atelier.triton_client import TritonClient
    from ingest.trends_import import import_trend_posts

    if args.action == "demo":
        from atelier.demo_trends import write_trend_export

        source = write_trend_export(settings.home / "demo-trends")
    elif args.file:
        source = Path(args.file)
    else:
        raise AtelierError("trends import needs the export FILE (JSON, JSONL or CSV)")
    triton = TritonClient(settings.triton_url)
    labeler = None
    if not args.no_labels:
        from ingest.labels import ZeroShotLabeler

        labeler = ZeroShotLabeler(triton)
    report = import_trend_posts(source, triton, TrendStore(settings.milvus_uri, settings.trends_collection),
                                settings.home / "rejects" / f"trends-{source.stem}.jsonl", progress=not args.json,
                                labeler=labeler, media_root=Path(args.media_root) if args.media_root else None)
    summary = report.summary()
    print(json.dumps(summary) if args.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))


def cmd_profile(args: argparse.Namespace, settings: Settings) -> None:
    """A shopper's order export (which they provide; nothing logs in anywhere) becomes their profile."""
    from atelier.profiles import profile_names, save_profile
    from ingest.orders import read_order_history

    if args.action == "list":
        print("\n".join(profile_names(settings.profiles_dir)))
        return
    if not (args.name and args.file):
        raise AtelierError("profile import needs a NAME and the order export FILE")
    orders, rejects = read_order_history(Path(args.file))
    if not orders:
        raise AtelierError(f"{args.file}: no usable order lines ({len(rejects)} rejected)")
    path = save_profile(settings.profiles_dir, args.name, orders)
    print(path)
    print(f"{len(orders)} order lines kept, {len(rejects)} rejected", file=sys.stderr)
    for reject in rejects[:10]:
        print(f"  record {reject.line}: {reject.reason}", file=sys.stderr)


def cmd_crawl(args: argparse.Namespace, settings: Settings) -> None:
    """Products from shop pages (schema.org JSON-LD or OpenGraph) into a JSONL catalog for `atelier ingest`."""
    from ingest.crawl import crawl_products

    report = crawl_products(args.urls, progress=not args.json, allow_private=args.allow_private,
                            per_host_delay_s=args.delay, timeout_s=args.timeout)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row) + "\n" for row in report.products))
    failures = out.with_name(out.stem + ".failures.jsonl")
    failures.write_text("".join(json.dumps(failure) + "\n" for failure in report.failures))
    summary = {**report.summary(), "catalog": str(out), "failures_file": str(failures)}
    if args.json:
        print(json.dumps(summary))
        return
    print("\n".join(f"{k}: {v}" for k, v in summary.items()))
    for failure in report.failures[:10]:
        print(f"  {failure['url']}: {failure['reason']}", file=sys.stderr)
    print(f"ingest it with: atelier ingest {out}", file=sys.stderr)


def _parse_filters(pairs: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value:
            raise AtelierError(f"--filter takes field=value, not {pair!r}")
        filters.setdefault(name.strip(), []).append(value.strip())
    return filters


def cmd_search(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.catalog_store import CatalogStore
    from atelier.profiles import load_profile_with_taste
    from atelier.search import CatalogSearch, Query
    from atelier.triton_client import TritonClient

    image = Path(args.image).read_bytes() if args.image else None
    store = CatalogStore(settings.milvus_uri, settings.collection)
    query = Query(text=args.text or "", image=image, image_weight=args.image_weight,
                  equals=_parse_filters(args.filter), min_price=args.min_price, max_price=args.max_price,
                  top_k=args.top_k, history_weight=args.history_weight,
                  profile=load_profile_with_taste(settings.profiles_dir, args.profile, store.embeddings)
                  if args.profile else None)
    search = CatalogSearch(TritonClient(settings.triton_url), store)
    hits = search.search(query)
    if args.json:
        print(json.dumps([{"id": h.id, "score": h.score, **h.fields} for h in hits]))
        return
    _print_hits(hits)


def _print_hits(hits: list) -> None:
    for rank, hit in enumerate(hits, 1):
        f = hit.fields
        print(f"{rank:>2}. {hit.score:.3f}  {hit.id}  {f['title']}  [{f['category']}, {f['color']}, "
              f"{f['pattern']}, {f['price']:.2f}]")


def _read_file(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise AtelierError(f"cannot read the {what} {path!r}: {error.strerror}") from error


def cmd_generate(args: argparse.Namespace, settings: Settings) -> None:
    """generate, edit, inpaint and tryon: one image through Triton, written as PNG, then its closest products."""
    import time

    from atelier.catalog_store import CatalogStore
    from atelier.diffusion.exported import NO_RECORD, served_weights
    from atelier.images import png_bytes
    from atelier.search import CatalogSearch, Query
    from atelier.triton_client import TritonClient

    model = {"generate": "txt2img", "edit": "edit", "inpaint": "inpaint", "tryon": "tryon"}[args.command]
    values = {name: getattr(args, name, None) for name in (
        "prompt", "negative_prompt", "instruction", "seed", "steps", "guidance_scale", "image_guidance_scale",
        "width", "height", "strength", "garment_type")}
    for name in ("image", "mask", "person", "garment"):
        values[name] = _read_file(getattr(args, name, None), name)
    triton = TritonClient(settings.triton_url)
    started = time.perf_counter()
    print(f"{model}: generating through Triton at {settings.triton_url} ...", file=sys.stderr)
    image, seed = triton.generate(model, **values)
    seconds = time.perf_counter() - started
    out = Path(args.out or f"{model}-{seed}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    png = png_bytes(image)
    out.write_bytes(png)
    weights = served_weights(settings.model_repository, model)
    made_by = weights.text if weights else NO_RECORD
    print(f"wrote {out} ({image.shape[1]}x{image.shape[0]}, seed {seed}, {seconds:.1f} s; {model}: {made_by})",
          file=sys.stderr)
    if weights is not None and not weights.learned:
        print(f"note: {model} has random weights, so this image is noise, not a design", file=sys.stderr)
    try:
        search = CatalogSearch(triton, CatalogStore(settings.milvus_uri, settings.collection))
        hits = search.search(Query(image=png, top_k=args.top_k))
    except AtelierError as error:  # the image is written either way
        print(f"no catalog matches: {error}", file=sys.stderr)
        hits = []
    if args.json:
        print(json.dumps({"image": str(out), "seed": seed, "width": int(image.shape[1]),
                          "height": int(image.shape[0]), "seconds": round(seconds, 3), "weights": made_by,
                          "learned_weights": bool(weights and weights.learned),
                          "products": [{"id": h.id, "score": h.score, **h.fields} for h in hits]}))
        return
    _print_hits(hits)


def _catalog_or_demo(path: str | None, settings: Settings) -> Path:
    if path:
        return Path(path)
    from atelier.demo_catalog import write_catalog

    return write_catalog(settings.demo_catalog_dir)


def cmd_train(args: argparse.Namespace, settings: Settings) -> None:
    if args.what in ("warping", "tryon"):
        _train_tryon_network(args, settings)
        return
    if args.what == "lora":
        _train_lora(args, settings)
        return
    if args.what == "generators":
        _train_generators(args, settings)
        return
    from training.clip_metric import TrainConfig, train_clip

    catalog = _catalog_or_demo(args.catalog, settings)
    out = Path(args.out) if args.out else settings.home / "models" / f"clip-{catalog.parent.name}"
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    checkpoint = train_clip(catalog, out, TrainConfig(**overrides), profile=settings.profile,
                            resume=not args.no_resume)
    print(checkpoint)
    print(f"export it with: atelier export --profile {settings.profile} --checkpoint {checkpoint}", file=sys.stderr)


def _train_generators(args: argparse.Namespace, settings: Settings) -> None:
    from training.train_generators import GeneratorTrainConfig, train_generators

    out = Path(args.out) if args.out else settings.generators_dir
    overrides = {k: v for k, v in (("unet_steps", args.steps), ("txt2img_steps", args.steps), ("seed", args.seed))
                 if v is not None}
    on_trained = None
    if args.serve:  # `atelier up` runs it so: each network goes into the running Triton as soon as it is trained
        from atelier.stack import serve_trained

        def on_trained(kind: str, folder: Path) -> None:
            serve_trained(kind, folder, settings)

    folders = train_generators(out, GeneratorTrainConfig(**overrides), resume=not args.no_resume,
                               on_trained=on_trained)
    for folder in folders.values():
        print(folder)
    sources = " ".join(f"--{kind}-source {folder}" for kind, folder in folders.items())
    print(f"export them with: atelier export --only {' '.join(folders)} {sources}", file=sys.stderr)


def _size(text: str | None) -> tuple[int, int] | None:
    """--size HEIGHTxWIDTH."""
    if text is None:
        return None
    height, sep, width = text.lower().partition("x")
    if not (sep and height.isdigit() and width.isdigit() and int(height) > 0 and int(width) > 0):
        raise AtelierError(f"--size takes HEIGHTxWIDTH in pixels, e.g. 1024x768, not {text!r}")
    return int(height), int(width)


def _lora_sources(args: argparse.Namespace, settings: Settings, catalog: Path) -> list:
    """The weighted mixture: the catalog, the imported trend posts, a shopper's purchases (catalog rows)."""
    from training.lora_data import LoraSource, catalog_source

    sources = [catalog_source(catalog, args.catalog_weight)]
    if args.trends_weight > 0:
        from atelier.trend_store import TrendStore
        from ingest.fetch import STORED, load_images

        posts, _ = TrendStore(settings.milvus_uri, settings.trends_collection).posts()
        images = load_images([post["image"] for post in posts], STORED)
        rows = [{"image": image, "caption": post["caption"], "hashtags": post["hashtags"],
                 "labels": post.get("labels", {})}
                for post, image in zip(posts, images) if isinstance(image, bytes)]
        if not rows:
            raise AtelierError("--trends-weight: the trends collection has no posts with readable images; "
                               "run `atelier trends import` first")
        sources.append(LoraSource("trends", rows, args.trends_weight))
    if args.orders:
        from atelier.profiles import load_profile

        bought = {order["product_id"] for order in load_profile(settings.profiles_dir, args.orders).orders}
        rows = [row for row in sources[0].rows if row["id"] in bought]
        if not rows:
            raise AtelierError(f"--orders {args.orders}: none of their purchases is in {catalog}")
        sources.append(LoraSource("orders", rows, args.orders_weight))
    return sources


def _train_lora(args: argparse.Namespace, settings: Settings) -> None:
    """`train lora`: an SDXL LoRA on a weighted mixture of catalog, trend-post and order-history images."""
    from training.train_lora import LoraTrainConfig, train_lora

    catalog = _catalog_or_demo(args.catalog, settings)
    out = Path(args.out) if args.out else settings.home / "models" / f"lora-{catalog.parent.name}"
    tiny = settings.profile == "tiny"
    overrides = {"steps": args.steps or (20 if tiny else 1000), "seed": args.seed or 0,
                 "resolution": args.resolution or (64 if tiny else 1024), "rank": args.rank,
                 "validation_inference_steps": 2 if tiny else 20}
    run = train_lora(_lora_sources(args, settings, catalog), out, LoraTrainConfig(**overrides),
                     profile=settings.profile, resume=not args.no_resume)
    print(run.lora_path)
    print(f"validation images in {out / 'validation'}; export it with: atelier export --profile {settings.profile} "
          f"--only txt2img --lora {run.lora_path}", file=sys.stderr)


def _train_tryon_network(args: argparse.Namespace, settings: Settings) -> None:
    """`train warping` (the geometric matching module) and `train tryon` (the try-on UNet's self-attention)."""
    if not args.data:
        raise AtelierError(f"train {args.what} needs --data: a folder in VITON-HD's layout (see docs/tryon.md)")
    out = Path(args.out) if args.out else settings.home / "models" / f"{args.what}-{Path(args.data).name}"
    size = _size(args.size)
    if args.what == "warping":
        from training.train_warping import train_warping

        run = train_warping(args.data, out, steps=args.steps or 300, seed=args.seed or 0,
                            size=size or (128, 96), resume=not args.no_resume)
        print(run.checkpoint)
        print(f"export it with: atelier export --only warping --warping-checkpoint {run.checkpoint}", file=sys.stderr)
        return
    from training.train_tryon import TryOnTrainConfig, train_tryon

    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed), ("size", size)) if v is not None}
    run = train_tryon(Path(args.data), out, TryOnTrainConfig(**overrides), profile=settings.profile,
                      resume=not args.no_resume)
    print(run.attention)
    print(f"export it with: atelier export --profile {settings.profile} --only tryon --tryon-attention "
          f"{run.attention}", file=sys.stderr)


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _served_checkpoint(args: argparse.Namespace, settings: Settings) -> Path | None:
    """--checkpoint, else the checkpoint the model repository's CLIP was exported from (the demo's model)."""
    if args.checkpoint:
        return Path(args.checkpoint)
    record = settings.model_repository / "clip_text/1/export.json"
    checkpoint = json.loads(record.read_text())["build"]["checkpoint"] if record.exists() else None
    if checkpoint is None:
        print("the model repository serves no trained CLIP: only the baselines are evaluated "
              "(pass --checkpoint, or run `atelier up` once)", file=sys.stderr)
    return _path(checkpoint)


def _eval_generation(args: argparse.Namespace, settings: Settings) -> dict:
    from export.diffusion_models import tiny_pipeline
    from training.generation_eval import Judge, evaluate_generation
    from training.train_generators import load_trained

    judge_checkpoint = _served_checkpoint(args, settings)
    if judge_checkpoint is None:
        raise AtelierError("eval generation needs the trained CLIP as its judge: pass --checkpoint")
    trained = load_trained(Path(args.generators) if args.generators else settings.generators_dir)
    judge = Judge(judge_checkpoint, _catalog_or_demo(args.catalog, settings))
    return evaluate_generation(trained, {kind: tiny_pipeline(kind) for kind in trained}, judge,
                               settings.model_repository, Path(args.out), count=args.limit or 50, seed=args.seed,
                               progress=not args.json)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> None:
    if args.what == "parity":
        from export.parity import generation_parity_report, parity_report

        repository = Path(args.model_repository or settings.model_repository)
        triton_url = None if args.no_triton else settings.triton_url
        report = {"clip": parity_report(repository, triton_url),
                  "generation": generation_parity_report(repository, triton_url)}
    elif args.what == "sketch":
        from training.sketch_eval import evaluate_sketch, write_sketch_report

        report = evaluate_sketch(_catalog_or_demo(args.catalog, settings), _served_checkpoint(args, settings),
                                 seed=args.seed, profile=settings.profile, baseline=_path(args.baseline),
                                 baseline_model=args.baseline_model)
        write_sketch_report(report, Path(args.out))
    elif args.what == "generation":
        report = _eval_generation(args, settings)
    elif args.what == "labels":
        from training.label_eval import ClipBundleEmbedder, evaluate_labels, write_labels_report

        if args.checkpoint:  # the trained model in this process, as the retrieval eval does
            from export.clip import load_clip

            embedder = ClipBundleEmbedder(load_clip(settings.profile, checkpoint=Path(args.checkpoint)))
        else:
            from atelier.triton_client import TritonClient

            embedder = TritonClient(settings.triton_url)
        report = evaluate_labels(_catalog_or_demo(args.catalog, settings), embedder, limit=args.limit)
        write_labels_report(report, Path(args.out))
    elif args.what == "tryon":
        from atelier.triton_client import TritonClient
        from training.tryon_eval import run_tryon_eval

        if not args.data:
            raise AtelierError("eval tryon needs --data: a folder in VITON-HD's layout (see docs/tryon.md)")
        report = run_tryon_eval(Path(args.data), TritonClient(settings.triton_url), Path(args.out),
                                split=args.split, size=_size(args.size) or (1024, 768), limit=args.limit,
                                steps=args.steps, seed=args.seed, feature=args.features,
                                lpips_net=None if args.lpips == "none" else args.lpips,
                                allow_unpublished_weights=args.allow_unpublished_weights, progress=not args.json)
    else:
        from training.evaluate import evaluate_retrieval, write_report

        report = evaluate_retrieval(_catalog_or_demo(args.catalog, settings), _served_checkpoint(args, settings),
                                    seed=args.seed, profile=settings.profile, baseline=_path(args.baseline),
                                    baseline_model=args.baseline_model)
        write_report(report, Path(args.out))
    print(json.dumps(report, indent=None if args.json else 2))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _suite_config(args: argparse.Namespace):
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


def cmd_bench(args: argparse.Namespace, settings: Settings) -> None:
    from benchmarks import clip_throughput, generation_latency, search_latency, search_load, suite

    out = Path(args.out)
    if args.what == "suite":
        triton_url = args.triton_url or settings.triton_url
        result = suite.run(triton_url, args.metrics_url or suite.metrics_url_for(triton_url),
                           args.milvus_uri or settings.milvus_uri, out, _suite_config(args),
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
        result = search_latency.run(out, sizes=list(_ints(args.sizes or "10000,100000")), dim=args.dim)
    print(json.dumps(result, indent=2))


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="same seed, same image (default: random, printed)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--guidance-scale", type=float, help="how closely to follow the text (tryon: the garment)")
    parser.add_argument("--out", help="PNG to write (default: <model>-<seed>.png)")
    parser.add_argument("--top-k", type=int, default=5, help="catalog products to print")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_generate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atelier", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("export", help="build a profile's models and write them into the Triton repository")
    p.add_argument("--profile", choices=PROFILES, help="tiny or full (default: $ATELIER_PROFILE or tiny)")
    p.add_argument("--model-name", help="open_clip model name or hf-hub id (default: the profile's)")
    p.add_argument("--checkpoint", help="CLIP weights to load (from `atelier train`)")
    p.add_argument("--only", nargs="+", choices=["clip", "txt2img", "edit", "inpaint", "tryon", "parser", "warping"],
                   help="export only these model families (default: all but the optional try-on parser and warping)")
    p.add_argument("--txt2img-source", help="SDXL checkpoint, hub id or folder (full default: SDXL base 1.0)")
    p.add_argument("--edit-source", help="instruct-pix2pix checkpoint (full default: timbrooks/instruct-pix2pix)")
    p.add_argument("--inpaint-source", help="SD inpainting checkpoint (full default: SD 1.5 inpainting)")
    p.add_argument("--tryon-source", help="try-on base, an SD inpainting checkpoint (full default: SD 1.5 inpainting)")
    p.add_argument("--tryon-attention", help="try-on self-attention weights, .safetensors from `atelier train tryon` "
                                             "(full default: CatVTON's)")
    p.add_argument("--parser-source", help="parser: a SegFormer clothes-parsing checkpoint (full default: "
                                           "mattmdjaga/segformer_b2_clothes)")
    p.add_argument("--warping-checkpoint", help="warping: a checkpoint from `atelier train warping`; tryon then "
                                                "pre-warps garments with it")
    p.add_argument("--lora", help="LoRA to fuse into the txt2img UNet: hub id, folder or .safetensors file")
    p.add_argument("--lora-scale", type=float, default=1.0)
    p.add_argument("--trt", action="store_true",
                   help="after the ONNX export, build fp16 TensorRT engines (model.plan, backend tensorrt) of the "
                        "exported networks, for NGC Triton on a GPU; needs TensorRT and a GPU, else they stay ONNX "
                        "(docs/tensorrt.md)")
    p.add_argument("--model-repository")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="run the embedded Triton server in the foreground")
    _add_triton_ports(p)
    p.add_argument("--model-repository")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("up", help="the whole demo: export if needed, Triton, Milvus, demo catalog, dashboard")
    p.add_argument("--port", type=int, default=8501, help="dashboard port")
    p.add_argument("--milvus-port", type=int, default=19530)
    p.add_argument("--demo-count", type=int, default=2000, help="products in the demo catalog")
    _add_triton_ports(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("demo-catalog", help="draw the deterministic demo catalog (images + catalog.csv)")
    p.add_argument("--out", help="folder (default: $ATELIER_HOME/demo-catalog)")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo_catalog)

    p = sub.add_parser("ingest", help="embed a catalog (CSV, JSONL, Parquet or image folder) into Milvus")
    p.add_argument("source")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rejects", help="JSONL file for rejected rows (default: $ATELIER_HOME/rejects/<name>.jsonl)")
    p.add_argument("--image-root", action="append", metavar="FOLDER",
                   help="a folder local images may be read from, repeatable (default: the working folder and the "
                        "catalog's folder)")
    p.add_argument("--allow-private", action="store_true",
                   help="fetch image URLs on private, loopback and link-local addresses (an intranet shop)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("crawl", help="collect products from shop pages (JSON-LD / OpenGraph) into a JSONL catalog")
    p.add_argument("urls", nargs="+", help="product page URLs or sitemap.xml URLs")
    p.add_argument("--out", default="crawled.jsonl", help="the catalog file to write (failures beside it)")
    p.add_argument("--delay", type=float, default=1.0, help="seconds between requests to one site (or its "
                                                             "robots.txt Crawl-delay, if longer)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument("--allow-private", action="store_true",
                   help="allow private, loopback and link-local addresses (refused by default)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    p.set_defaults(func=cmd_crawl)

    p = sub.add_parser("search", help="search the catalog by text, image or both")
    p.add_argument("--text")
    p.add_argument("--image", help="path of a query image")
    p.add_argument("--image-weight", type=float, default=0.5, help="weight of the image when both are given")
    p.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE",
                   help="repeatable; values of one field are OR-ed, fields AND-ed")
    p.add_argument("--min-price", type=float)
    p.add_argument("--max-price", type=float)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--profile", help="lean towards this shopper's order history (see `atelier profile`)")
    p.add_argument("--history-weight", type=float, default=0.3, help="with --profile: 0 = query only, 1 = history")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("trends", help="trend posts: import FILE (a JSON/JSONL/CSV export of social posts), or demo "
                                      "(the offline demo's posts); then see the Trends page")
    p.add_argument("action", choices=["import", "demo"])
    p.add_argument("file", nargs="?", help="import: the export file")
    p.add_argument("--media-root", help="import: where the export's local image paths start (default: its folder)")
    p.add_argument("--no-labels", action="store_true", help="skip zero-shot fashion labels of the images")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    p.set_defaults(func=cmd_trends)

    p = sub.add_parser("profile", help="shopper profiles from order exports they provide: import NAME FILE, list")
    p.add_argument("action", choices=["import", "list"])
    p.add_argument("name", nargs="?", help="import: the shopper's name")
    p.add_argument("file", nargs="?", help="import: their order export (CSV or JSON)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("generate", help="text to image (txt2img), then the closest catalog products")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt")
    p.add_argument("--width", type=int, help="multiple of 8 (default: the model's, 256 tiny / 1024 full)")
    p.add_argument("--height", type=int)
    _add_generation_options(p)

    p = sub.add_parser("edit", help="edit an image by instruction (instruct-pix2pix), then the closest products")
    p.add_argument("--image", required=True, help="PNG/JPEG/WebP to edit")
    p.add_argument("--instruction", required=True, help='e.g. "make the jacket denim"')
    p.add_argument("--image-guidance-scale", type=float, help="how closely to keep the input image (default 1.5)")
    _add_generation_options(p)

    p = sub.add_parser("inpaint", help="repaint the white part of a mask (SD inpainting), then the closest products")
    p.add_argument("--image", required=True)
    p.add_argument("--mask", required=True, help="white = repaint; the image's size or aspect ratio")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt")
    p.add_argument("--strength", type=float, help="0-1: how much of the masked part changes (default 1)")
    _add_generation_options(p)

    p = sub.add_parser("tryon", help="dress a person photo in a garment (CatVTON), then the closest products")
    p.add_argument("--person", required=True, help="photo of a person (PNG/JPEG/WebP)")
    p.add_argument("--garment", required=True, help="photo of the garment, e.g. a catalog product image")
    p.add_argument("--mask", help="white = where the garment goes; the person photo's size or aspect ratio "
                                  "(required unless a human-parsing model is configured)")
    p.add_argument("--garment-type", choices=GARMENT_TYPES, default="upper")
    _add_generation_options(p)

    p = sub.add_parser("train", help="`clip`: metric learning of the CLIP model on a catalog; `warping`: the "
                                     "try-on garment warping module; `tryon`: the try-on UNet's self-attention; "
                                     "`lora`: an SDXL LoRA on the catalog's images and captions; `generators`: "
                                     "the tiny VAE, txt2img, edit and inpaint networks on drawn demo products")
    p.add_argument("what", choices=["clip", "warping", "tryon", "lora", "generators"])
    p.add_argument("--resolution", type=int, help="lora: training resolution (default: 64 tiny, 1024 full)")
    p.add_argument("--rank", type=int, default=4, help="lora: LoRA rank")
    p.add_argument("--catalog-weight", type=float, default=1.0, help="lora: the catalog's share of the mixture")
    p.add_argument("--trends-weight", type=float, default=0.0, help="lora: the imported trend posts' share")
    p.add_argument("--orders", help="lora: a shopper profile whose purchases join the mixture")
    p.add_argument("--orders-weight", type=float, default=0.5, help="lora: with --orders, their share")
    p.add_argument("--data", help="warping, tryon: a folder in VITON-HD's layout (its train split is used)")
    p.add_argument("--size", help="warping, tryon: HEIGHTxWIDTH to train at (default: 128x96 warping, 1024x768 tryon)")
    p.add_argument("--steps", type=int, help="warping, tryon, lora, generators: optimisation steps (default: 300 "
                                             "warping, 200 tryon, lora 20 tiny / 1000 full, generators 3000 "
                                             "txt2img, 1500 edit and inpaint)")
    p.add_argument("--catalog", help="clip, lora: catalog CSV (default: the demo catalog, drawn if missing)")
    p.add_argument("--out", help="checkpoint folder (default: $ATELIER_HOME/models/<what>-<data folder>)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming from last.pt")
    p.add_argument("--serve", action="store_true", help="generators: export each network into the model repository "
                                                         "and load it into the running Triton as it is trained")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="`parity`: PyTorch vs ONNX Runtime vs Triton; `retrieval`: held-out precision "
                                    "and recall of typed, image and composed queries; `sketch`: sketch search on "
                                    "edge maps and hand-drawn strokes; `tryon`: SSIM, LPIPS, FID "
                                    "and KID of the served try-on on a paired VITON-HD-style split; `labels`: "
                                    "zero-shot fashion labels scored against the demo catalog's attributes; "
                                    "`generation`: the trained tiny generators judged by the trained CLIP, beside "
                                    "random weights and the nearest catalog image")
    p.add_argument("what", choices=["parity", "retrieval", "sketch", "tryon", "labels", "generation"])
    p.add_argument("--generators", help="generation: the trained pipelines' folder (default: "
                                        "$ATELIER_HOME/models/generators, as `atelier train generators` writes)")
    p.add_argument("--model-repository", help="parity: the repository to check")
    p.add_argument("--no-triton", action="store_true", help="parity: compare PyTorch and ONNX Runtime only")
    p.add_argument("--catalog", help="retrieval, sketch, labels: catalog CSV (default: the demo catalog)")
    p.add_argument("--checkpoint", help="retrieval, sketch, labels, generation: the trained model (retrieval, sketch, "
                                        "generation's judge: default "
                                        "the one the model repository serves; labels: run in this process instead "
                                        "of the served one)")
    p.add_argument("--baseline", help="retrieval, sketch: another checkpoint to measure beside it (say, an earlier "
                                      "recipe's)")
    p.add_argument("--baseline-model", help="retrieval, sketch: the open_clip config of --baseline, if not the "
                                            "profile's (atelier-tiny-clip-vit: the tiny model before issue 17)")
    p.add_argument("--seed", type=int, default=0, help="retrieval, sketch: split and augmentation seed; tryon: the "
                                                      "first pair's seed")
    p.add_argument("--out", default="benchmarks/results", help="retrieval, sketch, tryon, labels, generation: where "
                                                              "the JSON "
                                                              "and PNG go")
    p.add_argument("--data", help="tryon: a folder in VITON-HD's layout")
    p.add_argument("--split", default="test", help="tryon: the split to evaluate (paired)")
    p.add_argument("--size", help="tryon: HEIGHTxWIDTH the pairs are read at (default 1024x768, VITON-HD's)")
    p.add_argument("--limit", type=int, help="tryon: evaluate only the first N pairs; labels: N products; "
                                             "generation: N prompts of seen and N of unseen looks (default 50)")
    p.add_argument("--steps", type=int, help="tryon: denoising steps (default: the model's)")
    p.add_argument("--features", choices=["inception", "clip"], default="inception",
                   help="tryon: FID/KID features; `clip` (the served CLIP) runs offline but compares with nothing "
                        "published")
    p.add_argument("--lpips", choices=["alex", "vgg", "squeeze", "none"], default="alex",
                   help="tryon: LPIPS backbone (CatVTON reports squeeze); none leaves LPIPS out")
    p.add_argument("--allow-unpublished-weights", action="store_true",
                   help="tryon: run on cached metric weights that are not the published files, labelled as such")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="benchmarks: with no name, the suite against a running Triton and Milvus "
                                     "(docs/benchmarks.md); clip, generation: through a fresh embedded Triton against "
                                     "in-process ONNX Runtime; search: Milvus Lite against numpy; load: many clients "
                                     "searching the running stack's catalog at once")
    p.add_argument("what", nargs="?", default="suite", choices=["suite", "clip", "generation", "search", "load"])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="suite: a small run (two concurrency levels, 2 denoising "
                                                         "steps at 64 px, 2,000 rows, 64 products), for tests")
    p.add_argument("--triton-url", help="suite, load: Triton's gRPC URL (default: $ATELIER_TRITON_URL)")
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
    p.add_argument("--sizes", help="search (default 10000,100000), suite (default 10000,100000,1000000): "
                                   "collection sizes")
    p.add_argument("--dim", type=int, default=128, help="search: embedding dimension (the suite uses the served one)")
    p.add_argument("--clients", type=int, default=16, help="load: clients at once (default 16)")
    p.add_argument("--seconds", type=float, default=60.0, help="load: how long they search (default 60)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        if args.command == "export":
            args.profile = args.profile or settings.profile
        args.func(args, settings)
    except AtelierError as error:
        print(f"atelier: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        where = f" writing {error.filename}" if error.filename else ""
        print(f"atelier: error: {DISK_ERRORS[error.errno]}{where}; mend that and run the command again",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
