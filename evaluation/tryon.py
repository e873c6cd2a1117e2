"""`atelier eval tryon`: the served `tryon` model on a paired split in VITON-HD's layout.

Paired protocol (VITON-HD's and CatVTON's): each person is dressed in their own garment, inside the
split's agnostic mask (or the parse's garment area), and the result is compared with the photo
itself: SSIM and LPIPS pair by pair, FID and KID between the two sets (evaluation/tryon_metrics.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from atelier.images import png_bytes
from atelier.triton_client import TritonClient
from evaluation.tryon_metrics import TryOnMetrics, TryOnSample, write_tryon_report
from training.viton import VitonDataset, inpainting_mask

REPORT_SAMPLES = 4


class ServedClipFeatures:
    """FID/KID features from the served clip_image model: an offline stand-in for Inception-v3, whose numbers
    compare with nothing published (the report says so)."""

    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton
        self.name = f"clip_image ({triton.embedding_model().id})"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pngs = [png_bytes(image.permute(1, 2, 0).cpu().numpy()) for image in images]
        return torch.from_numpy(np.asarray(self.triton.embed_images(pngs)[0]))


def evaluate_tryon(data_root: Path, triton: TritonClient, split: str = "test", size: tuple[int, int] = (1024, 768),
                   garment_type: str = "upper", limit: int | None = None, steps: int | None = None,
                   guidance_scale: float | None = None, seed: int = 0, feature: str = "inception",
                   lpips_net: str | None = "alex", allow_unpublished_weights: bool = False,
                   progress: bool = True) -> tuple[dict[str, Any], list[TryOnSample]]:
    """Metrics of the try-ons of the split's first `limit` people (all by default), and a few samples to show.

    `feature` is "inception" (the published FID/KID) or "clip" (the served CLIP, for offline runs).
    """
    extractor = ServedClipFeatures(triton) if feature == "clip" else feature
    metrics = TryOnMetrics(extractor, lpips_net, allow_unpublished_weights=allow_unpublished_weights)
    data = VitonDataset(data_root, split, size, paired=True)
    samples = []
    for index in tqdm(range(min(limit or len(data), len(data))), desc="eval tryon", unit="pair", disable=not progress):
        pair = data[index]
        mask = inpainting_mask(pair, garment_type)
        generated, _ = triton.generate("tryon", person=png_bytes(pair.person), garment=png_bytes(pair.cloth),
                                       mask=png_bytes(mask), garment_type=garment_type, seed=seed + index,
                                       steps=steps, guidance_scale=guidance_scale)
        reference = np.asarray(pair.person)
        metrics.update([generated], [reference])
        if len(samples) < REPORT_SAMPLES:  # the person as the model sees it: the masked area greyed out
            masked = np.where(np.asarray(mask)[..., None] > 0, 128, reference).astype(np.uint8)
            samples.append(TryOnSample(masked, np.asarray(pair.cloth), generated, reference))
    report = metrics.compute()
    report.update(data=str(data_root), split=split, size=list(size), garment_type=garment_type, seed=seed,
                  steps=steps, guidance_scale=guidance_scale)
    return report, samples


def run_tryon_eval(data_root: Path, triton: TritonClient, out_dir: Path, **options: Any) -> dict[str, Any]:
    """evaluate_tryon, then its JSON and figure into `out_dir`; returns the report with their paths."""
    report, samples = evaluate_tryon(data_root, triton, **options)
    json_path, png_path = write_tryon_report(report, out_dir, samples)
    return {**report, "json": str(json_path), "figure": str(png_path)}
