"""The CLIP family's PyTorch models: an open_clip model built from a named config (models/configs/*.json for
the tiny profile, the published weights for full), with its preprocessing, tokenizer and build record."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from atelier.config import AtelierError
from atelier.families import MODEL_PROFILES

CONFIG_DIR = Path(__file__).parent / "configs"
TINY_SEED = 0


@dataclass
class ClipBundle:
    """An open_clip model with its own preprocessing and tokenizer, and where it came from."""

    name: str
    model: open_clip.CLIP
    preprocess: Callable
    tokenizer: Callable
    model_cfg: dict[str, Any]
    build: dict[str, Any]  # how to build it again: profile, model name, checkpoint

    @property
    def preprocess_cfg(self) -> dict[str, Any]:
        return dict(self.model.visual.preprocess_cfg)

    @property
    def embedding_model(self) -> dict[str, Any]:
        """The record a Milvus collection keeps to refuse mixing embeddings of different models."""
        return {"id": self.name, "weights_sha256": weights_sha256(self.model), "dim": self.model_cfg["embed_dim"]}


def weights_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _model_config(name: str) -> dict[str, Any]:
    if name.startswith("hf-hub:"):
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(name.removeprefix("hf-hub:"), "open_clip_config.json")
        return json.loads(Path(path).read_text())["model_cfg"]
    config = open_clip.get_model_config(name)
    if config is None:
        raise AtelierError(f"unknown open_clip model {name!r}; see open_clip.list_models()")
    return config


def load_clip(profile: str, model_name: str | None = None, checkpoint: Path | None = None) -> ClipBundle:
    """tiny: our small config, seeded random init (or a checkpoint of ours); full: published weights."""
    open_clip.add_model_config(CONFIG_DIR)
    name = model_name or MODEL_PROFILES[profile].clip_model
    if profile == "tiny":
        torch.manual_seed(TINY_SEED)
        logging.disable(logging.WARNING)  # open_clip's "initialized randomly": intended, and a checkpoint may follow
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
        finally:
            logging.disable(logging.NOTSET)
    else:
        model, _, preprocess = open_clip.create_model_and_transforms(name)
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state))
    model.eval()
    build = {"profile": profile, "model_name": name, "checkpoint": str(checkpoint) if checkpoint else None}
    return ClipBundle(name, model, preprocess, open_clip.get_tokenizer(name), _model_config(name), build)


def load_exported_clip(repository: Path) -> ClipBundle:
    """The PyTorch model that the repository's CLIP models were exported from."""
    export = json.loads((repository / "clip_text/1/export.json").read_text())
    build = export["build"]
    checkpoint = Path(build["checkpoint"]) if build["checkpoint"] else None
    bundle = load_clip(build["profile"], build["model_name"], checkpoint)
    if bundle.embedding_model != export["embedding_model"]:
        raise AtelierError(f"rebuilding {build} no longer gives the exported weights; run `atelier export` again")
    return bundle
