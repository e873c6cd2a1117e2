"""`atelier export`: a profile's networks into the Triton model repository (ONNX; TensorRT with --trt)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atelier.config import PROFILES, Settings
from atelier.families import FAMILIES, MODEL_PROFILES, PIPELINES


def run(args: argparse.Namespace, settings: Settings) -> None:
    from export.families import EXPORTERS, ExportOptions
    from export.tensorrt import build_engines, restore_onnx_configs

    repository = Path(args.model_repository or settings.model_repository)
    families = args.only or [name for name, family in FAMILIES.items() if family.default]
    options = ExportOptions(
        args.profile, args.model_name, Path(args.checkpoint) if args.checkpoint else None,
        {kind: getattr(args, f"{kind}_source") for kind in PIPELINES}, args.lora, args.lora_scale,
        args.tryon_attention, args.parser_source, Path(args.warping_checkpoint) if args.warping_checkpoint else None)
    restored = restore_onnx_configs(repository, families)  # a fresh ONNX export makes old engines stale
    if restored:
        print(f"back to ONNX Runtime: {', '.join(restored)}", file=sys.stderr)
    for name in families:
        print(f"building the {args.profile} {name} model", file=sys.stderr)
        for line in EXPORTERS[name](repository, options):
            print(line, file=sys.stderr)
    if args.trt:
        build_engines(repository, families)


def register(sub: argparse._SubParsersAction) -> None:
    """`export`."""
    p = sub.add_parser("export", help="build a profile's models and write them into the Triton repository")
    p.add_argument("--profile", choices=PROFILES, help="tiny or full (default: $ATELIER_PROFILE or tiny)")
    p.add_argument("--model-name", help="open_clip model name or hf-hub id (default: the profile's)")
    p.add_argument("--checkpoint", help="CLIP weights to load (from `atelier train`)")
    p.add_argument("--only", nargs="+", choices=list(FAMILIES),
                   help="export only these model families (default: all but the optional try-on parser and warping)")
    for kind in PIPELINES:
        published = MODEL_PROFILES["full"].sources.get(kind, "none: tiny")
        p.add_argument(f"--{kind}-source", help=f"{kind} checkpoint, hub id or folder (full default: {published})")
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
    p.set_defaults(func=run)
