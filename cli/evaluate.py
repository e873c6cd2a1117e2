"""`atelier eval`: parity, retrieval, sketch, labels, try-on and generation, each a JSON report (and plots)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from atelier.config import AtelierError, Settings
from atelier.model_repository import clip_record
from cli.common import catalog_or_demo, parse_size, path_or_none


def _served_checkpoint(args: argparse.Namespace, settings: Settings) -> Path | None:
    """--checkpoint, else the checkpoint the model repository's CLIP was exported from (the demo's model)."""
    if args.checkpoint:
        return Path(args.checkpoint)
    checkpoint = clip_record(settings.model_repository).get("build", {}).get("checkpoint")
    if checkpoint is None:
        print("the model repository serves no trained CLIP: only the baselines are evaluated "
              "(pass --checkpoint, or run `atelier up` once)", file=sys.stderr)
    return path_or_none(checkpoint)


def _eval_generation(args: argparse.Namespace, settings: Settings) -> dict:
    from evaluation.generation import Judge, evaluate_generation
    from models.diffusion import tiny_pipeline
    from training.train_generators import load_trained

    judge_checkpoint = _served_checkpoint(args, settings)
    if judge_checkpoint is None:
        raise AtelierError("eval generation needs the trained CLIP as its judge: pass --checkpoint")
    trained = load_trained(Path(args.generators) if args.generators else settings.generators_dir)
    judge = Judge(judge_checkpoint, catalog_or_demo(args.catalog, settings))
    return evaluate_generation(trained, {kind: tiny_pipeline(kind) for kind in trained}, judge,
                               settings.model_repository, Path(args.out), count=args.limit or 50, seed=args.seed,
                               progress=not args.json)


def _eval_lora(args: argparse.Namespace, settings: Settings) -> dict:
    """The shift a LoRA gives neutral prompts towards its trend posts (or, with --shopper, their purchases)."""
    from cli.train import lora_base, purchase_rows, trend_rows
    from evaluation.generation import Judge
    from evaluation.lora_shift import lora_shift, write_lora_shift
    from training.lora_data import catalog_source, open_image

    if not args.lora:
        raise AtelierError("eval lora needs --lora: the weights `atelier train lora` wrote")
    judge_checkpoint = _served_checkpoint(args, settings)
    if judge_checkpoint is None:
        raise AtelierError("eval lora needs the trained CLIP as its judge: pass --checkpoint")
    catalog = catalog_or_demo(args.catalog, settings)
    rows = (purchase_rows(settings, args.shopper, catalog_source(catalog).rows) if args.shopper
            else trend_rows(settings))
    report = lora_shift(lora_base(args, settings), Path(args.lora), [open_image(row["image"]) for row in rows],
                        Judge(judge_checkpoint, catalog), settings.model_repository, progress=not args.json)
    report["toward"] = f"shopper {args.shopper}" if args.shopper else "trend posts"
    for folder in (Path(args.out), Path(args.lora).parent):  # beside the LoRA, the Trends page shows it
        write_lora_shift(report, folder)
    return report


def run(args: argparse.Namespace, settings: Settings) -> None:
    if args.what == "parity":
        from export.parity import generation_parity_report, parity_report

        repository = Path(args.model_repository or settings.model_repository)
        triton_url = None if args.no_triton else settings.triton_url
        report = {"clip": parity_report(repository, triton_url),
                  "generation": generation_parity_report(repository, triton_url)}
    elif args.what == "sketch":
        from evaluation.sketch import evaluate_sketch, write_sketch_report

        report = evaluate_sketch(catalog_or_demo(args.catalog, settings), _served_checkpoint(args, settings),
                                 seed=args.seed, profile=settings.profile, baseline=path_or_none(args.baseline),
                                 baseline_model=args.baseline_model)
        write_sketch_report(report, Path(args.out))
    elif args.what == "generation":
        report = _eval_generation(args, settings)
    elif args.what == "lora":
        report = _eval_lora(args, settings)
    elif args.what == "labels":
        from evaluation.labels import ClipBundleEmbedder, evaluate_labels, write_labels_report

        if args.checkpoint:  # the trained model in this process, as the retrieval eval does
            from models.clip import load_clip

            embedder = ClipBundleEmbedder(load_clip(settings.profile, checkpoint=Path(args.checkpoint)))
        else:
            from atelier.triton_client import TritonClient

            embedder = TritonClient(settings.triton_url)
        report = evaluate_labels(catalog_or_demo(args.catalog, settings), embedder, limit=args.limit)
        write_labels_report(report, Path(args.out))
    elif args.what == "tryon":
        from atelier.triton_client import TritonClient
        from evaluation.tryon import run_tryon_eval

        if not args.data:
            raise AtelierError("eval tryon needs --data: a folder in VITON-HD's layout (see docs/tryon.md)")
        report = run_tryon_eval(Path(args.data), TritonClient(settings.triton_url), Path(args.out),
                                split=args.split, size=parse_size(args.size) or (1024, 768), limit=args.limit,
                                steps=args.steps, seed=args.seed, feature=args.features,
                                lpips_net=None if args.lpips == "none" else args.lpips,
                                allow_unpublished_weights=args.allow_unpublished_weights, progress=not args.json)
    else:
        from evaluation.retrieval import evaluate_retrieval, write_report

        report = evaluate_retrieval(catalog_or_demo(args.catalog, settings), _served_checkpoint(args, settings),
                                    seed=args.seed, profile=settings.profile, baseline=path_or_none(args.baseline),
                                    baseline_model=args.baseline_model)
        write_report(report, Path(args.out))
    print(json.dumps(report, indent=None if args.json else 2))


def register(sub: argparse._SubParsersAction) -> None:
    """`eval`."""
    p = sub.add_parser("eval", help="`parity`: PyTorch vs ONNX Runtime vs Triton; `retrieval`: held-out precision "
                                    "and recall of typed, image and composed queries; `sketch`: sketch search on "
                                    "edge maps and hand-drawn strokes; `tryon`: SSIM, LPIPS, FID "
                                    "and KID of the served try-on on a paired VITON-HD-style split; `labels`: "
                                    "zero-shot fashion labels scored against the demo catalog's attributes; "
                                    "`generation`: the trained tiny generators judged by the trained CLIP, beside "
                                    "random weights and the nearest catalog image; `lora`: how far a LoRA moves "
                                    "neutral prompts towards its trend posts or a shopper's purchases")
    p.add_argument("what", choices=["parity", "retrieval", "sketch", "tryon", "labels", "generation", "lora"])
    p.add_argument("--lora", help="lora: the LoRA weights (.safetensors) `atelier train lora` wrote")
    p.add_argument("--base", help="lora: the txt2img it was trained on (default: as `atelier train lora` chooses)")
    p.add_argument("--shopper", help="lora: measure the shift towards this shopper's purchases, not the trend posts")
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
    p.set_defaults(func=run)
