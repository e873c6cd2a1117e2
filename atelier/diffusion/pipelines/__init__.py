"""The denoising loops of the generation models, one module per pipeline family (atelier/families.py), over
their networks wherever they run (ONNX Runtime, Triton, PyTorch: atelier.diffusion.networks).

Each loop reads top to bottom like its diffusers pipeline and returns diffusers' image for the same weights,
scheduler and seed. A pipeline is built from a Python model's version folder (export.json, tokenizers, scheduler
config written by `atelier export`) and a `Networks` that runs the ONNX models.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from atelier.diffusion.exported import PipelineRecord
from atelier.diffusion.networks import Networks
from atelier.diffusion.pipelines.base import Pipeline
from atelier.families import PIPELINES
from atelier.model_repository import configured_scheduler


def pipeline_class(kind: str) -> type[Pipeline]:
    """Pipeline family `kind`'s loop: PIPELINE in atelier/diffusion/pipelines/<kind>.py."""
    if kind not in PIPELINES:
        raise ValueError(f"unknown pipeline {kind!r}; one of {', '.join(PIPELINES)}")
    return importlib.import_module(f"atelier.diffusion.pipelines.{kind}").PIPELINE


def load_pipeline(version_dir: Path, networks: Networks, scheduler: str | None = None) -> Pipeline:
    """The pipeline that `atelier export` wrote into `version_dir` (txt2img/1, edit/1, ...).

    Its scheduler is the one the model's config.pbtxt names, unless `scheduler` overrides it.
    """
    kind = PipelineRecord.read(version_dir).pipeline
    return pipeline_class(kind)(version_dir, networks, scheduler or configured_scheduler(Path(version_dir).parent))
