"""`atelier generate`, `edit`, `inpaint` and `tryon`: one image through Triton, then its closest products."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from atelier.config import AtelierError, Settings
from atelier.diffusion.inputs import GARMENT_TYPES
from atelier.families import FAMILIES
from cli.common import print_hits, read_file


def run(args: argparse.Namespace, settings: Settings) -> None:
    """generate, edit, inpaint and tryon: one image through Triton, written as PNG, then its closest products."""
    import time

    from atelier.catalog_store import CatalogStore
    from atelier.diffusion.exported import NO_RECORD, served_weights
    from atelier.images import png_bytes
    from atelier.search import CatalogSearch, Query
    from atelier.triton_client import TritonClient

    model = next(name for name, family in FAMILIES.items() if family.command == args.command)
    values = {name: getattr(args, name, None) for name in (
        "prompt", "negative_prompt", "instruction", "seed", "steps", "guidance_scale", "image_guidance_scale",
        "width", "height", "strength", "garment_type")}
    for name in ("image", "mask", "person", "garment"):
        values[name] = read_file(getattr(args, name, None), name)
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
    print_hits(hits)


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="same seed, same image (default: random, printed)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--guidance-scale", type=float, help="how closely to follow the text (tryon: the garment)")
    parser.add_argument("--out", help="PNG to write (default: <model>-<seed>.png)")
    parser.add_argument("--top-k", type=int, default=5, help="catalog products to print")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def register(sub: argparse._SubParsersAction) -> None:
    """`generate`, `edit`, `inpaint` and `tryon`."""
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
