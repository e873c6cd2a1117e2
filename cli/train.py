"""`atelier train`: CLIP on a catalog, the tiny generators, an SDXL LoRA, the try-on warping and attention."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from atelier.config import AtelierError, Settings
from atelier.families import MODEL_PROFILES
from atelier.processes import stop_on_signals
from cli.common import catalog_or_demo, parse_size


def run(args: argparse.Namespace, settings: Settings) -> None:
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

    catalog = catalog_or_demo(args.catalog, settings)
    out = Path(args.out) if args.out else settings.home / "models" / f"clip-{catalog.parent.name}"
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    checkpoint = train_clip(catalog, out, TrainConfig(**overrides), profile=settings.profile,
                            resume=not args.no_resume)
    print(checkpoint)
    print(f"export it with: atelier export --profile {settings.profile} --checkpoint {checkpoint}", file=sys.stderr)


def _train_generators(args: argparse.Namespace, settings: Settings) -> None:
    from training.train_generators import KINDS, GeneratorTrainConfig, train_generators

    out = Path(args.out) if args.out else settings.generators_dir
    steps = {f"{kind}_steps": args.steps for kind in KINDS}
    overrides = {k: v for k, v in (*steps.items(), ("seed", args.seed)) if v is not None}
    stop_on_signals()  # SIGINT and SIGTERM stop the lanes too, also where a background start ignores SIGINT
    on_trained = None
    if args.serve:  # `atelier up` runs it so: each network goes into the running Triton as soon as it is trained
        from cli.stack import serve_trained

        def on_trained(kind: str, folder: Path) -> None:
            serve_trained(kind, folder, settings)

    folders = train_generators(out, GeneratorTrainConfig(**overrides), resume=not args.no_resume,
                               on_trained=on_trained, lanes=args.lanes)
    for folder in folders.values():
        print(folder)
    sources = " ".join(f"--{kind}-source {folder}" for kind, folder in folders.items())
    print(f"export them with: atelier export --only {' '.join(folders)} {sources}", file=sys.stderr)


def trend_rows(settings: Settings) -> list[dict]:
    """The imported trend posts with readable images, as LoRA training rows."""
    from atelier.trend_store import TrendStore
    from ingest.fetch import STORED, load_images

    posts, _ = TrendStore(settings.milvus_uri, settings.trends_collection).posts()
    images = load_images([post["image"] for post in posts], STORED)
    rows = [{"image": image, "caption": post["caption"], "hashtags": post["hashtags"], "labels": post.get("labels", {})}
            for post, image in zip(posts, images) if isinstance(image, bytes)]
    if not rows:
        raise AtelierError("the trends collection has no posts with readable images; run `atelier trends import` "
                           "first")
    return rows


def purchase_rows(settings: Settings, shopper: str, catalog_rows: list[dict]) -> list[dict]:
    """The catalog rows a shopper (`atelier shopper import`) bought."""
    from atelier.profiles import load_profile

    bought = {order["product_id"] for order in load_profile(settings.profiles_dir, shopper).orders}
    rows = [row for row in catalog_rows if row["id"] in bought]
    if not rows:
        raise AtelierError(f"none of {shopper}'s purchases is in the catalog")
    return rows


def _lora_sources(args: argparse.Namespace, settings: Settings, catalog: Path) -> list:
    """The weighted mixture: the catalog, the imported trend posts, a shopper's purchases (catalog rows)."""
    from training.lora_data import LoraSource, catalog_source

    sources = [catalog_source(catalog, args.catalog_weight)]
    if args.trends_weight > 0:
        sources.append(LoraSource("trends", trend_rows(settings), args.trends_weight))
    if args.orders:
        sources.append(LoraSource("orders", purchase_rows(settings, args.orders, sources[0].rows), args.orders_weight))
    return sources


def lora_base(args: argparse.Namespace, settings: Settings) -> str | None:
    """The txt2img a LoRA is trained on: --base, else (tiny profile) the generators trained on the demo catalog
    where their training has finished, else the profile's own (tiny: random weights; full: SDXL)."""
    if args.base or settings.profile != "tiny":
        return args.base
    from training.train_generators import trained_folders

    trained = trained_folders(settings.generators_dir, ("txt2img",))
    return str(trained["txt2img"]) if trained else None


def _train_lora(args: argparse.Namespace, settings: Settings) -> None:
    """`train lora`: an SDXL LoRA on a weighted mixture of catalog, trend-post and order-history images."""
    from training.train_lora import LoraTrainConfig, train_lora

    catalog = catalog_or_demo(args.catalog, settings)
    out = Path(args.out) if args.out else settings.home / "models" / f"lora-{catalog.parent.name}"
    profile, base = MODEL_PROFILES[settings.profile], lora_base(args, settings)
    print(f"training a LoRA on {base or f'the {settings.profile} profile txt2img'}", file=sys.stderr)
    overrides = {"steps": args.steps or profile.lora_steps, "seed": args.seed or 0,
                 "resolution": args.resolution or (None if base else profile.lora_resolution), "rank": args.rank,
                 "lr": args.lr or profile.lora_lr, "validation_inference_steps": profile.lora_validation_steps}
    run = train_lora(_lora_sources(args, settings, catalog), out, LoraTrainConfig(**overrides),
                     profile=settings.profile, source=base, resume=not args.no_resume)
    print(run.lora_path)
    source = f" --txt2img-source {base}" if base else ""
    print(f"validation images in {out / 'validation'}; export it with: atelier export --profile {settings.profile} "
          f"--only txt2img{source} --lora {run.lora_path}", file=sys.stderr)


def _train_tryon_network(args: argparse.Namespace, settings: Settings) -> None:
    """`train warping` (the geometric matching module) and `train tryon` (the try-on UNet's self-attention)."""
    if not args.data:
        raise AtelierError(f"train {args.what} needs --data: a folder in VITON-HD's layout (see docs/tryon.md)")
    out = Path(args.out) if args.out else settings.home / "models" / f"{args.what}-{Path(args.data).name}"
    size = parse_size(args.size)
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


def register(sub: argparse._SubParsersAction) -> None:
    """`train`."""
    p = sub.add_parser("train", help="`clip`: metric learning of the CLIP model on a catalog; `warping`: the "
                                     "try-on garment warping module; `tryon`: the try-on UNet's self-attention; "
                                     "`lora`: an SDXL LoRA on the catalog's images and captions; `generators`: "
                                     "the tiny VAE, txt2img, edit and inpaint networks on drawn demo products")
    p.add_argument("what", choices=["clip", "warping", "tryon", "lora", "generators"])
    p.add_argument("--resolution", type=int, help="lora: training resolution (default: the base's native size; 64 "
                                                  "on the untrained tiny txt2img)")
    p.add_argument("--base", help="lora: the txt2img checkpoint to train on (default: the generators trained on the "
                                  "demo catalog where trained, else the profile's)")
    p.add_argument("--rank", type=int, default=4, help="lora: LoRA rank")
    p.add_argument("--lr", type=float, help="lora: learning rate (default: the profile's)")
    p.add_argument("--catalog-weight", type=float, default=1.0, help="lora: the catalog's share of the mixture")
    p.add_argument("--trends-weight", type=float, default=0.0, help="lora: the imported trend posts' share")
    p.add_argument("--orders", help="lora: a shopper profile whose purchases join the mixture")
    p.add_argument("--orders-weight", type=float, default=0.5, help="lora: with --orders, their share")
    p.add_argument("--data", help="warping, tryon: a folder in VITON-HD's layout (its train split is used)")
    p.add_argument("--size", help="warping, tryon: HEIGHTxWIDTH to train at (default: 128x96 warping, 1024x768 tryon)")
    p.add_argument("--steps", type=int, help="warping, tryon, lora, generators: optimisation steps (default: 300 "
                                             "warping, 200 tryon, lora 20 tiny / 1000 full, generators: each "
                                             "network's GeneratorTrainConfig default)")
    p.add_argument("--catalog", help="clip, lora: catalog CSV (default: the demo catalog, drawn if missing)")
    p.add_argument("--out", help="checkpoint folder (default: $ATELIER_HOME/models/<what>-<data folder>)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming from last.pt")
    p.add_argument("--lanes", type=int, default=min(2, os.cpu_count() or 1),
                   help="generators: networks trained side by side after the VAE, each in its own process (default: 2 "
                        "where the CPU has 2 cores or more; 1 trains them one after another)")
    p.add_argument("--serve", action="store_true", help="generators: export each network into the model repository "
                                                         "and load it into the running Triton as it is trained")
    p.set_defaults(func=run)
