"""`atelier search`: the catalog by text, image or both, optionally leaning to a shopper's history."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from atelier.config import AtelierError, Settings
from cli.common import print_hits


def parse_filters(pairs: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value:
            raise AtelierError(f"--filter takes field=value, not {pair!r}")
        filters.setdefault(name.strip(), []).append(value.strip())
    return filters


def run(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.catalog_store import CatalogStore
    from atelier.profiles import load_profile_with_taste
    from atelier.search import CatalogSearch, Query
    from atelier.triton_client import TritonClient

    image = Path(args.image).read_bytes() if args.image else None
    store = CatalogStore(settings.milvus_uri, settings.collection)
    query = Query(text=args.text or "", image=image, image_weight=args.image_weight,
                  equals=parse_filters(args.filter), min_price=args.min_price, max_price=args.max_price,
                  top_k=args.top_k, history_weight=args.history_weight,
                  profile=load_profile_with_taste(settings.profiles_dir, args.shopper, store.embeddings)
                  if args.shopper else None)
    search = CatalogSearch(TritonClient(settings.triton_url), store)
    hits = search.search(query)
    if args.json:
        print(json.dumps([{"id": h.id, "score": h.score, **h.fields} for h in hits]))
        return
    print_hits(hits)


def register(sub: argparse._SubParsersAction) -> None:
    """`search`."""
    p = sub.add_parser("search", help="search the catalog by text, image or both")
    p.add_argument("--text")
    p.add_argument("--image", help="path of a query image")
    p.add_argument("--image-weight", type=float, default=0.5, help="weight of the image when both are given")
    p.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE",
                   help="repeatable; values of one field are OR-ed, fields AND-ed")
    p.add_argument("--min-price", type=float)
    p.add_argument("--max-price", type=float)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--shopper", help="lean towards this shopper's order history (see `atelier shopper`)")
    p.add_argument("--history-weight", type=float, default=0.3, help="with --shopper: 0 = query only, 1 = history")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
