"""The CLIP family for Triton: an open_clip model (built by models/clip.py) exported as two ONNX towers.

Writes into the model repository:
  clip_image_encoder/1/model.onnx   image tower, L2-normalised output, dynamic batch
  clip_text_encoder/1/model.onnx    text tower, L2-normalised output, dynamic batch
  clip_image/1/export.json          preprocessing config + embedding model record
  clip_text/1/export.json           embedding model record
  clip_text/1/open_clip_config.json the model's open_clip config, so the Python model builds the
                                    model's own tokenizer offline (plus HF tokenizer files if any)
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from atelier.config import AtelierError
from models.clip import ClipBundle

ONNX_OPSET = 17


class ImageTower(nn.Module):
    def __init__(self, model: open_clip.CLIP) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(pixel_values), dim=-1)


class TextTower(nn.Module):
    def __init__(self, model: open_clip.CLIP) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_text(input_ids), dim=-1)


def sample_inputs(bundle: ClipBundle) -> tuple[torch.Tensor, torch.Tensor]:
    size = bundle.preprocess_cfg["size"]
    height, width = (size, size) if isinstance(size, int) else size
    pixels = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    tokens = bundle.tokenizer(["a red striped shirt", "linen trousers for a beach wedding"])
    return pixels, tokens


def _export_onnx(module: nn.Module, example: torch.Tensor, input_name: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Traced with grad enabled: under no_grad nn.MultiheadAttention takes a fused fast path
    # (aten::_native_multi_head_attention) that has no ONNX export.
    with warnings.catch_warnings():  # the tracer's notes on shape checks and index ops do not apply here
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        torch.onnx.export(
            module, (example,), str(path), dynamo=False, opset_version=ONNX_OPSET,
            input_names=[input_name], output_names=["embedding"],
            dynamic_axes={input_name: {0: "batch"}, "embedding": {0: "batch"}},
        )


def export_clip(
    bundle: ClipBundle, repository: Path, label_accuracy: dict[str, float | None] | None = None
) -> dict[str, Any]:
    """Write the CLIP models into `repository`; returns the embedding model record. `label_accuracy`, the zero-shot
    label accuracy measured for this model (`evaluation.labels.measured_accuracy`), is served with it."""
    if bundle.preprocess_cfg.get("resize_mode", "shortest") not in ("shortest", "squash"):
        raise AtelierError(f"{bundle.name}: resize_mode {bundle.preprocess_cfg['resize_mode']!r} is not supported")
    pixels, tokens = sample_inputs(bundle)
    # The wrappers in eval mode: the exporter puts each module back in its mode afterwards, and a wrapper left in
    # training mode would leave the model's batch norms there too.
    _export_onnx(ImageTower(bundle.model).eval(), pixels, "pixel_values",
                 repository / "clip_image_encoder/1/model.onnx")
    _export_onnx(TextTower(bundle.model).eval(), tokens, "input_ids", repository / "clip_text_encoder/1/model.onnx")

    record = bundle.embedding_model
    cfg = bundle.preprocess_cfg
    preprocess = {
        "size": list(cfg["size"]) if isinstance(cfg["size"], (list, tuple)) else [cfg["size"]] * 2,
        "mean": list(cfg["mean"]), "std": list(cfg["std"]),
        "interpolation": cfg.get("interpolation") or "bicubic",
        "resize_mode": cfg.get("resize_mode") or "shortest",
    }
    if preprocess["resize_mode"] == "shortest" and preprocess["size"][0] != preprocess["size"][1]:
        raise AtelierError(f"{bundle.name}: non-square 'shortest' preprocessing is not supported")
    text_dir, image_dir = repository / "clip_text/1", repository / "clip_image/1"
    common = {"embedding_model": record, "build": bundle.build}
    (image_dir / "export.json").write_text(json.dumps({**common, "preprocess": preprocess}, indent=2))
    (text_dir / "export.json").write_text(json.dumps({**common, "label_accuracy": label_accuracy or {}}, indent=2))
    open_clip_config = {"model_cfg": bundle.model_cfg, "preprocess_cfg": cfg}
    (text_dir / "open_clip_config.json").write_text(json.dumps(open_clip_config, indent=2))
    hf_tokenizer = getattr(bundle.tokenizer, "tokenizer", None)
    if bundle.model_cfg.get("text_cfg", {}).get("hf_tokenizer_name") and hf_tokenizer is not None:
        hf_tokenizer.save_pretrained(text_dir)
    return record
