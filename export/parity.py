"""Parity of the exported CLIP models: PyTorch vs ONNX Runtime vs the live Triton models, same inputs.

Images go through open_clip's own preprocess for PyTorch and ONNX Runtime, and as encoded PNG
bytes through `clip_image` (whose preprocessing must reproduce it); texts through the model's own
tokenizer and through `clip_text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from PIL import Image

from atelier.images import png_bytes
from atelier.triton_client import TritonClient
from models.clip import ClipBundle, load_exported_clip

TEXTS = ["a red striped shirt", "navy linen trousers for a beach wedding", "polka dot summer dress"]


def sample_images() -> list[Image.Image]:
    """Deterministic images of varied sizes and aspect ratios, so resizing and cropping are exercised."""
    rng = np.random.default_rng(0)
    sizes = [(64, 64), (96, 128), (200, 150), (37, 53)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def torch_embeddings(bundle: ClipBundle, images: list[Image.Image], texts: list[str]):
    pixels = torch.stack([bundle.preprocess(image) for image in images])
    tokens = bundle.tokenizer(texts)
    with torch.no_grad():
        image_emb = F.normalize(bundle.model.encode_image(pixels), dim=-1).numpy()
        text_emb = F.normalize(bundle.model.encode_text(tokens), dim=-1).numpy()
    return pixels.numpy(), tokens.numpy().astype(np.int64), image_emb, text_emb


def onnx_embedding(path: Path, name: str, value: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["embedding"], {name: value})[0]


def parity_report(repository: Path, triton_url: str | None = None) -> dict[str, Any]:
    """Max absolute differences between the backends; Triton is included when a URL is given."""
    bundle = load_exported_clip(repository)
    images = sample_images()
    pixels, tokens, image_ref, text_ref = torch_embeddings(bundle, images, TEXTS)
    report: dict[str, Any] = {"embedding_model": bundle.embedding_model}
    image_ort = onnx_embedding(repository / "clip_image_encoder/1/model.onnx", "pixel_values", pixels)
    text_ort = onnx_embedding(repository / "clip_text_encoder/1/model.onnx", "input_ids", tokens)
    report["onnxruntime_vs_torch"] = {
        "image_max_abs_diff": float(np.abs(image_ort - image_ref).max()),
        "text_max_abs_diff": float(np.abs(text_ort - text_ref).max()),
    }
    if triton_url:
        client = TritonClient(triton_url)
        image_triton, _ = client.embed_images([png_bytes(image) for image in images])
        text_triton, _ = client.embed_texts(TEXTS)
        report["triton_vs_torch"] = {
            "image_max_abs_diff": float(np.abs(image_triton - image_ref).max()),
            "text_max_abs_diff": float(np.abs(text_triton - text_ref).max()),
            "max_norm_error": float(np.abs(np.linalg.norm(np.vstack([image_triton, text_triton]), axis=1) - 1).max()),
        }
    return report


def generation_cases() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """pipeline -> (request values for our models, the same request as diffusers keyword arguments)."""
    y, x = np.mgrid[0:64, 0:96]
    photo = Image.fromarray(np.clip(np.stack([120 + x, 90 + 2 * y, 200 - x], -1), 0, 255).astype(np.uint8))
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (32, 20, 64, 48))
    text = {"prompt": "a linen outfit for a beach wedding", "seed": 7, "steps": 8, "guidance_scale": 6.0}
    diffusers_text = {"prompt": text["prompt"], "num_inference_steps": 8, "guidance_scale": 6.0}
    return {
        "txt2img": ({**text, "width": 96, "height": 64}, {**diffusers_text, "width": 96, "height": 64}),
        "edit": ({"image": png_bytes(photo), "instruction": "make the jacket denim", "seed": 7, "steps": 8,
                  "guidance_scale": 7.5, "image_guidance_scale": 1.5},
                 {"prompt": "make the jacket denim", "image": photo, "num_inference_steps": 8,
                  "guidance_scale": 7.5, "image_guidance_scale": 1.5}),
        "inpaint": ({**text, "image": png_bytes(photo), "mask": png_bytes(mask), "strength": 1.0},
                    {**diffusers_text, "image": photo, "mask_image": mask, "width": 96, "height": 64,
                     "strength": 1.0}),
    }


def generation_parity_report(repository: Path, triton_url: str | None = None) -> dict[str, Any]:
    """Mean absolute difference, in 0-255 levels, of each pipeline's image against diffusers in-process.

    Ours: the ONNX networks driven in-process by atelier.diffusion (and, with a URL, the live Triton
    model); diffusers: the PyTorch pipeline the repository was exported from, same seed and inputs.
    Inpainting compares against diffusers' image with the same paste-back applied.
    """
    from atelier.diffusion.networks import OnnxNetworks
    from atelier.diffusion.pipelines import load_pipeline
    from atelier.images import paste_back
    from export.diffusion import load_exported_pipeline

    networks = OnnxNetworks(repository)
    client = TritonClient(triton_url) if triton_url else None
    report: dict[str, Any] = {}
    for kind, (values, reference_args) in generation_cases().items():
        reference = load_exported_pipeline(repository, kind)
        expected = reference(**reference_args, generator=torch.Generator().manual_seed(values["seed"])).images[0]
        if kind == "inpaint":
            expected = paste_back(reference_args["image"], expected, reference_args["mask_image"], inside_only=True)
        expected = np.asarray(expected, dtype=np.float64)
        ours = load_pipeline(repository / kind / "1", networks)
        request = ours.parse(values)
        row = {"onnx_loop_vs_diffusers": float(np.abs(ours([request])[0] - expected).mean())}
        if client is not None:
            row["triton_vs_diffusers"] = float(np.abs(client.generate(kind, **values)[0] - expected).mean())
        report[kind] = row
    return {"unit": "mean absolute difference in 0-255 levels (acceptance: < 1)", "pipelines": report}
