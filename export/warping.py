"""Export the try-on warping module (training/warping.py's GMM) to ONNX, checked against PyTorch.

    agnostic [B, 3, H, W], mask [B, 1, H, W], cloth [B, 3, H, W] -> warped_cloth [B, 3, H, W], grid [B, H, W, 2]

H and W are the GMM's own (its correlation has one channel per feature-map cell); the batch is dynamic.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

from atelier.config import AtelierError
from export.diffusion import PARITY_TOLERANCE, _export_one
from models.warping import GMM, load_gmm

INPUTS = ("agnostic", "mask", "cloth")
OUTPUTS = ("warped_cloth", "grid")


def export_warping(checkpoint_or_model: Path | str | GMM, path: Path | str) -> float:
    """Write the GMM (a train_warping checkpoint or a model) to `path`; returns the max abs difference between
    ONNX Runtime and PyTorch on a batch of two. Above PARITY_TOLERANCE: AtelierError, and `path` is left alone."""
    model = checkpoint_or_model if isinstance(checkpoint_or_model, GMM) else load_gmm(checkpoint_or_model)
    training = model.training
    model.eval()
    height, width = model.size
    generator = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, height, width, generator=generator) > 0.5).float()
    inputs = ((torch.rand(2, 3, height, width, generator=generator) * 2 - 1) * (1 - mask), mask,
              torch.rand(2, 3, height, width, generator=generator) * 2 - 1)
    axes = {name: {0: "batch"} for name in (*INPUTS, *OUTPUTS)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # _export_one empties the folder it writes to (a Triton version folder): give it one of its own.
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
            exported = Path(scratch) / "model.onnx"
            difference = _export_one(model, inputs, list(INPUTS), list(OUTPUTS), axes, exported)
            if difference > PARITY_TOLERANCE:
                raise AtelierError(f"{path}: ONNX Runtime differs from PyTorch by {difference:.2e} "
                                   f"(tolerance {PARITY_TOLERANCE:.0e}); nothing written")
            shutil.move(exported, path)
    finally:
        model.train(training)
    return difference


CONFIG = """# Try-on garment warping (CP-VTON's geometric matching module): the garment bent onto the person's pose.
# Written by `atelier export --only warping`; while it is here, `tryon` pre-warps every garment with it.
name: "tryon_warp"
backend: "onnxruntime"
max_batch_size: 0
input [
  {{ name: "agnostic" data_type: TYPE_FP32 dims: [ -1, 3, {h}, {w} ] }},
  {{ name: "mask" data_type: TYPE_FP32 dims: [ -1, 1, {h}, {w} ] }},
  {{ name: "cloth" data_type: TYPE_FP32 dims: [ -1, 3, {h}, {w} ] }}
]
output [
  {{ name: "warped_cloth" data_type: TYPE_FP32 dims: [ -1, 3, {h}, {w} ] }},
  {{ name: "grid" data_type: TYPE_FP32 dims: [ -1, {h}, {w}, 2 ] }}
]
instance_group [ {{ kind: KIND_AUTO count: 1 }} ]  # the GPU where Triton has one (NGC), else the CPU
"""


def export_warping_model(repository: Path, checkpoint: Path | str) -> dict:
    """`tryon_warp` in a Triton repository: the ONNX model, its config, and warp.json (its size, for `tryon`)."""
    model = load_gmm(checkpoint)
    folder = Path(repository) / "tryon_warp"
    difference = export_warping(model, folder / "1" / "model.onnx")
    height, width = model.size
    (folder / "config.pbtxt").write_text(CONFIG.format(h=height, w=width))
    record = {"size": [height, width], "checkpoint": str(checkpoint), "onnx_vs_torch_max_abs": difference}
    (folder / "1" / "warp.json").write_text(json.dumps(record, indent=2))
    return record
