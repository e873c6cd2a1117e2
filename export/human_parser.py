"""Export the optional human parser that derives a try-on mask from the person photo and the garment type.

full: SegFormer-B2 fine-tuned for clothes parsing on ATR, Hugging Face `mattmdjaga/segformer_b2_clothes`
(transformers SegformerForSemanticSegmentation, 18 ATR labels: see ATR_LABELS). Licence: the model card's
metadata says MIT (it said WTFPL before April 2023); the ATR training images carry their own terms, which
we have not assessed.
tiny: the same architecture from a small SegformerConfig with the same 18 labels, seeded random init,
offline, in seconds on a CPU.

It writes into a Triton model repository:
  tryon_parser/config.pbtxt       onnxruntime, KIND_AUTO (only a repository that exported it serves a parser)
  tryon_parser/1/model.onnx       pixel_values FP32[-1, 3, -1, -1] (normalised) -> logits FP32[-1, 18, -1, -1],
                                  SegFormer's logits at 1/4 of the input's resolution
  tryon_parser/1/parser.json      labels, preprocessing, source, licence, parity figure, weights sha256:
                                  atelier.diffusion.parsing.HumanParser's spec; written last, so its
                                  presence means a complete export
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

from atelier.config import AtelierError
from atelier.diffusion.parsing import MODEL, garment_label_ids
from export.diffusion import PARITY_TOLERANCE, _export_one
from models.clip import weights_sha256

FULL_SOURCE = "mattmdjaga/segformer_b2_clothes"
FULL_LICENCE = f"MIT, per the model card of {FULL_SOURCE} (trained on ATR, whose terms are not assessed)"
# ATR's label ids, as the checkpoint's config.json id2label names them.
ATR_LABELS = ("Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
              "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf")
TINY_SEED = 0


def _tiny_config() -> SegformerConfig:
    """SegFormer's four stages, strides and spatial-reduction ratios (B2's), at toy widths and depth 1."""
    return SegformerConfig(
        hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_attention_heads=[1, 2, 4, 8],
        sr_ratios=[8, 4, 2, 1], decoder_hidden_size=64,
        id2label=dict(enumerate(ATR_LABELS)), label2id={name: i for i, name in enumerate(ATR_LABELS)},
    )


def _preprocessing(processor: SegformerImageProcessor) -> dict[str, Any]:
    """What HumanParser must do to a photo before the network: the processor's resize, rescale and normalise."""
    if not processor.do_resize or not processor.size.height or int(processor.resample) != Image.Resampling.BILINEAR:
        raise AtelierError(f"the parser's image processor must resize bilinearly to a fixed size, not {processor}")
    normalise = processor.do_normalize
    return {"height": processor.size.height, "width": processor.size.width, "resample": "bilinear",
            "rescale_factor": processor.rescale_factor if processor.do_rescale else 1.0,
            "image_mean": list(processor.image_mean) if normalise else [0.0, 0.0, 0.0],
            "image_std": list(processor.image_std) if normalise else [1.0, 1.0, 1.0]}


def load_human_parser(profile: str, source: str | None = None) -> tuple[SegformerForSemanticSegmentation,
                                                                         dict[str, Any]]:
    """The parser in eval mode, fp32 on the CPU, and its preprocessing (see _preprocessing).

    tiny takes the installed transformers' SegformerImageProcessor defaults; full (or any `source`, a hub id or
    local folder) the checkpoint's own preprocessor_config.json, as the model card's example does.
    """
    if profile not in ("tiny", "full"):
        raise AtelierError(f"unknown profile {profile!r}; one of tiny, full")
    if profile == "tiny" and source is None:
        torch.manual_seed(TINY_SEED)
        model, processor = SegformerForSemanticSegmentation(_tiny_config()), SegformerImageProcessor()
    else:
        source = source or FULL_SOURCE
        try:
            model = SegformerForSemanticSegmentation.from_pretrained(source, dtype=torch.float32)
            processor = SegformerImageProcessor.from_pretrained(source)
        except OSError as error:
            raise AtelierError(f"could not load the human parser from {source!r}: {error}") from error
    return model.eval(), _preprocessing(processor)


class Logits(nn.Module):
    def __init__(self, model: SegformerForSemanticSegmentation) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def _config_pbtxt(labels: int) -> str:
    return f"""\
# Human parser for try-on (SegFormer, ATR labels): a normalised photo to per-label logits at 1/4 resolution.
# Written by export/human_parser.py with 1/model.onnx; the tryon model derives a missing mask from it.
# The calling Python model sends one photo at a time, so no batcher here.
name: "{MODEL}"
backend: "onnxruntime"
max_batch_size: 0
input [
  {{ name: "pixel_values" data_type: TYPE_FP32 dims: [ -1, 3, -1, -1 ] }}
]
output [
  {{ name: "logits" data_type: TYPE_FP32 dims: [ -1, {labels}, -1, -1 ] }}
]
instance_group [ {{ kind: KIND_AUTO count: 1 }} ]  # the GPU where Triton has one (NGC), else the CPU
"""


def _licence(profile: str, source: str | None) -> str:
    if profile == "tiny" and source is None:
        return "none: random weights"
    return FULL_LICENCE if source in (None, FULL_SOURCE) else f"unknown: see the model card of {source}"


def export_human_parser(repository: Path, profile: str, source: str | None = None) -> dict[str, Any]:
    """Export the parser into `repository` (see the module docstring); returns parser.json's content."""
    model, preprocess = load_human_parser(profile, source)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    garment_label_ids(labels)  # refuses a parser that lacks a label the try-on masks are made of
    # Two photos at the size the processor resizes to: the one shape the tryon model sends.
    example = torch.randn(2, 3, preprocess["height"], preprocess["width"], generator=torch.Generator().manual_seed(0))
    image_axes = {0: "batch", 2: "height", 3: "width"}
    model_dir = Path(repository) / MODEL
    parity = _export_one(Logits(model).eval(), (example,), ["pixel_values"], ["logits"],
                         {"pixel_values": image_axes, "logits": image_axes}, model_dir / "1" / "model.onnx")
    if parity > PARITY_TOLERANCE:
        raise AtelierError(f"{MODEL}: ONNX Runtime differs from PyTorch by {parity:.2e} "
                           f"(tolerance {PARITY_TOLERANCE:.0e})")
    (model_dir / "config.pbtxt").write_text(_config_pbtxt(len(labels)))
    record = {
        "model": MODEL,
        "build": {"profile": profile, "source": source},
        "source": source or (FULL_SOURCE if profile == "full" else None),
        "licence": _licence(profile, source),
        "labels": labels,
        "preprocess": preprocess,
        "weights_sha256": weights_sha256(model),
        "onnx_vs_torch_max_abs": parity,
    }
    (model_dir / "1" / "parser.json").write_text(json.dumps(record, indent=2))
    return record
