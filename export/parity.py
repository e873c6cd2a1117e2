"""Parity of the exported CLIP models: PyTorch vs ONNX Runtime vs the live Triton models, same inputs.

Images go through open_clip's own preprocess for PyTorch and ONNX Runtime, and as encoded PNG
bytes through `clip_image` (whose preprocessing must reproduce it); texts through the model's own
tokenizer and through `clip_text`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from PIL import Image

from atelier.triton_client import TritonClient
from export.clip import ClipBundle, load_exported_clip

TEXTS = ["a red striped shirt", "navy linen trousers for a beach wedding", "polka dot summer dress"]


def sample_images() -> list[Image.Image]:
    """Deterministic images of varied sizes and aspect ratios, so resizing and cropping are exercised."""
    rng = np.random.default_rng(0)
    sizes = [(64, 64), (96, 128), (200, 150), (37, 53)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


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
