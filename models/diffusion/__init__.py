"""The diffusion pipelines Atelier serves, built for a profile: one builder module per pipeline family.

models/diffusion/<family>.py builds its family's diffusers pipeline (`build(source)`: a checkpoint, the full
profile's published one or a trained folder; with none, tiny: the real architecture at toy widths with seeded
random weights, offline, in seconds on a CPU) and says which networks export writes (`networks(pipe, size,
generator)`). The tiny profile's tokenizer is the real CLIP BPE vocabulary that open_clip ships, so prompts
tokenize exactly as with the published models.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import torch
from diffusers import DiffusionPipeline

from atelier.config import AtelierError
from atelier.families import FAMILIES, MODEL_PROFILES, PIPELINES
from models.diffusion.components import SAMPLING_FILE, Traced

__all__ = ["SAMPLING_FILE", "builder", "load_diffusers_pipeline", "tiny_pipeline", "traced_networks"]


def builder(kind: str) -> ModuleType:
    """Pipeline family `kind`'s builder module, models/diffusion/<kind>.py."""
    if kind not in PIPELINES:
        raise AtelierError(f"unknown pipeline {kind!r}; one of {', '.join(PIPELINES)}")
    return importlib.import_module(f"models.diffusion.{kind}")


def tiny_pipeline(kind: str) -> DiffusionPipeline:
    """`kind` at the tiny profile's toy widths, seeded random weights."""
    return builder(kind).build(None)


def traced_networks(kind: str, pipe: DiffusionPipeline, size: int = 64) -> dict[str, Traced]:
    """Triton network name (<prefix>_<role>) -> what export traces: the family's networks, seeded examples."""
    networks = builder(kind).networks(pipe, size, torch.Generator().manual_seed(0))
    return {f"{FAMILIES[kind].prefix}_{role}": traced for role, traced in networks.items()}


def load_diffusers_pipeline(kind: str, profile: str, source: str | None = None, lora: str | None = None,
                            lora_scale: float = 1.0, attention: str | None = None) -> DiffusionPipeline:
    """A diffusers pipeline in fp32 on the CPU, with an optional LoRA fused into its UNet.

    `source` overrides the profile's checkpoint (hub id or local folder; the tiny profile has none); `lora` is a
    diffusers/peft LoRA (hub id, folder or .safetensors file), as written by `save_lora_weights` or our LoRA
    trainer, for a family that takes one (txt2img); `attention` is self-attention weights for a family trained
    so (try-on).
    """
    build, family = builder(kind).build, FAMILIES[kind]
    if lora and not family.lora:
        taking = ", ".join(name for name, other in FAMILIES.items() if other.lora)
        raise AtelierError(f"LoRA weights are fused into the UNet of {taking} only")
    if attention and not family.attention:
        taking = ", ".join(name for name, other in FAMILIES.items() if other.attention)
        raise AtelierError(f"self-attention weights are loaded into the UNet of {taking} only")
    source = source or MODEL_PROFILES[profile].sources.get(kind)
    try:
        pipe = build(source, attention) if family.attention else build(source)
    except OSError as error:  # no such folder or hub id, or the hub cannot be reached
        raise AtelierError(f"could not load {kind} weights from {source!r}: {error}") from error
    if lora:
        path = Path(lora)
        location = (str(path.parent), {"weight_name": path.name}) if path.is_file() else (lora, {})
        pipe.load_lora_weights(location[0], **location[1])
        pipe.fuse_lora(lora_scale=lora_scale)
        pipe.unload_lora_weights()
    pipe.set_progress_bar_config(disable=True)
    return pipe
