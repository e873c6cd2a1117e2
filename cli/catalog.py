"""Data in: the demo catalog, catalog ingest, shop crawls, trend posts and shoppers' order histories."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from atelier.config import AtelierError, Settings


def demo_catalog(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.demo_catalog import write_catalog

    out = Path(args.out or settings.demo_catalog_dir)
    csv_path = write_catalog(out, count=args.count, seed=args.seed)
    print(csv_path)


def ingest(args: argparse.Namespace, settings: Settings) -> None:
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


def crawl(args: argparse.Namespace, settings: Settings) -> None:
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


def trends(args: argparse.Namespace, settings: Settings) -> None:
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
        from atelier.labels import ZeroShotLabeler

        labeler = ZeroShotLabeler(triton)
    report = import_trend_posts(source, triton, TrendStore(settings.milvus_uri, settings.trends_collection),
                                settings.home / "rejects" / f"trends-{source.stem}.jsonl", progress=not args.json,
                                labeler=labeler, media_root=Path(args.media_root) if args.media_root else None)
    summary = report.summary()
    print(json.dumps(summary) if args.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))


def shopper(args: argparse.Namespace, settings: Settings) -> None:
    """A shopper's order export (which they provide; nothing logs in anywhere) becomes their profile."""
    from atelier.profiles import profile_names, save_profile
    from ingest.orders import read_order_history

    if args.action == "list":
        print("\n".join(profile_names(settings.profiles_dir)))
        return
    if not (args.name and args.file):
        raise AtelierError("shopper import needs a NAME and the order export FILE")
    orders, rejects = read_order_history(Path(args.file))
    if not orders:
        raise AtelierError(f"{args.file}: no usable order lines ({len(rejects)} rejected)")
    path = save_profile(settings.profiles_dir, args.name, orders)
    print(path)
    print(f"{len(orders)} order lines kept, {len(rejects)} rejected", file=sys.stderr)
    for reject in rejects[:10]:
        print(f"  record {reject.line}: {reject.reason}", file=sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    """`demo-catalog`, `ingest`, `crawl`, `trends` and `shopper`."""
    p = sub.add_parser("demo-catalog", help="draw the deterministic demo catalog (images + catalog.csv)")
    p.add_argument("--out", help="folder (default: $ATELIER_HOME/demo-catalog)")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=demo_catalog)

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
    p.set_defaults(func=ingest)

    p = sub.add_parser("crawl", help="collect products from shop pages (JSON-LD / OpenGraph) into a JSONL catalog")
    p.add_argument("urls", nargs="+", help="product page URLs or sitemap.xml URLs")
    p.add_argument("--out", default="crawled.jsonl", help="the catalog file to write (failures beside it)")
    p.add_argument("--delay", type=float, default=1.0, help="seconds between requests to one site (or its "
                                                             "robots.txt Crawl-delay, if longer)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument("--allow-private", action="store_true",
                   help="allow private, loopback and link-local addresses (refused by default)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    p.set_defaults(func=crawl)

    p = sub.add_parser("trends", help="trend posts: import FILE (a JSON/JSONL/CSV export of social posts), or demo "
                                      "(the offline demo's posts); then see the Trends page")
    p.add_argument("action", choices=["import", "demo"])
    p.add_argument("file", nargs="?", help="import: the export file")
    p.add_argument("--media-root", help="import: where the export's local image paths start (default: its folder)")
    p.add_argument("--no-labels", action="store_true", help="skip zero-shot fashion labels of the images")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    p.set_defaults(func=trends)

    p = sub.add_parser("shopper", help="shoppers' order histories, from exports they provide: import NAME FILE, list")
    p.add_argument("action", choices=["import", "list"])
    p.add_argument("name", nargs="?", help="import: the shopper's name")
    p.add_argument("file", nargs="?", help="import: their order export (CSV or JSON)")
    p.set_defaults(func=shopper)
