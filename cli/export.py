"""`atelier export`: a profile's networks into the Triton model repository (ONNX; TensorRT with --trt)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from atelier.config import PROFILES, AtelierError, Settings
from atelier.families import FAMILIES


def run(args: argparse.Namespace, settings: Settings) -> None:
    repository = Path(args.model_repository or settings.model_repository)
    families = args.only or [name for name, family in FAMILIES.items() if family.default]
    from export.tensorrt import build_engines, restore_onnx_configs

    restored = restore_onnx_configs(repository, families)  # a fresh ONNX export makes old engines stale
    if restored:
        print(f"back to ONNX Runtime: {', '.join(restored)}", file=sys.stderr)
    if "clip" in families:
        from export.clip import export_clip
        from export.parity import parity_report
        from models.clip import load_clip

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
    pipelines = tuple(name for name in families if FAMILIES[name].is_pipeline)
    if pipelines:
        from export.diffusion import export_pipelines

        sources = {kind: getattr(args, f"{kind}_source") for kind in pipelines}
        if "tryon" in pipelines and args.profile == "full" and not args.tryon_attention:
            print("tryon: loading CatVTON's self-attention weights (zhengchong/CatVTON), licensed CC BY-NC-SA 4.0: "
                  "non-commercial use only", file=sys.stderr)
        records = export_pipelines(repository, args.profile, pipelines, sources, args.lora, args.lora_scale,
                                   args.tryon_attention)
        for kind, record in records.items():
            worst = max(record.onnx_vs_torch_max_abs.values())
            print(f"exported {kind} ({', '.join(record.networks)}); ONNX Runtime vs PyTorch max abs diff "
                  f"{worst:.1e}", file=sys.stderr)
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
    p.set_defaults(func=run)
