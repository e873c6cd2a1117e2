"""A generation model's export.json, written by export/diffusion.py: one typed record (`PipelineRecord`).

It says what the pipeline needs beside its networks (the folders that must lie in its version folder, read
by the pipelines when Triton loads them and by the server's start-up check), what a request gets when it
leaves a parameter out, and which weights its networks carry (shown beside every image they make, in the
dashboard and the CLI).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RECORD_FILE = "export.json"
NO_RECORD = "weights unknown: no export record of this model in the model repository read here"


@dataclass(frozen=True)
class Build:
    """How to build the exported PyTorch pipeline again (export/diffusion.py: load_exported_pipeline)."""

    profile: str
    source: str | None = None  # a checkpoint folder or hub id; None: the profile's own (tiny: random weights)
    lora: str | None = None
    lora_scale: float = 1.0
    attention: str | None = None  # try-on's self-attention weights


@dataclass(frozen=True)
class Vae:
    scale_factor: int  # pixels per latent
    scaling_factor: float  # latents are scaled by it before the UNet
    latent_channels: int


@dataclass(frozen=True)
class Weights:
    learned: bool  # False: the tiny profile's random initialisation, whose images are noise
    text: str  # in a user's words, for a caption


@dataclass(frozen=True)
class PipelineRecord:
    pipeline: str  # txt2img, edit, inpaint or tryon
    build: Build
    weights_sha256: str
    networks: list[str]  # the Triton models it calls: <prefix>_<role>
    prefix: str
    vae: Vae
    force_zeros_for_empty_prompt: bool  # SDXL: no negative prompt means zero embeddings
    defaults: dict[str, float]  # what a request gets when it leaves a parameter out
    max_side: int  # the longest image side it takes
    onnx_vs_torch_max_abs: dict[str, float] = field(default_factory=dict)  # per network, at export

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelineRecord:
        return cls(**{**data, "build": Build(**data["build"]), "vae": Vae(**data["vae"])})

    @classmethod
    def read(cls, version_dir: Path) -> PipelineRecord:
        return cls.from_json(json.loads((Path(version_dir) / RECORD_FILE).read_text()))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, version_dir: Path) -> None:
        (Path(version_dir) / RECORD_FILE).write_text(json.dumps(self.to_json(), indent=2))

    def network(self, role: str) -> str:
        return f"{self.prefix}_{role}"

    def folders(self) -> list[str]:
        """The folders in the model's version folder: the scheduler's config, and a tokenizer per text encoder."""
        return ["scheduler"] + [name for name, encoder in (("tokenizer", "text_encoder"),
                                                           ("tokenizer_2", "text_encoder_2"))
                                if self.network(encoder) in self.networks]


def weights(build: Build) -> Weights:
    """Which weights a pipeline built so carries."""
    if build.profile == "tiny" and build.source is None:
        trained = [f"{part} trained ({Path(path).name})" for part, path in (("LoRA", build.lora),
                                                                           ("attention", build.attention)) if path]
        return Weights(False, ", ".join(["tiny network, random weights", *trained]))
    source = build.source or "the full profile's published checkpoint"
    lora = f", LoRA {Path(build.lora).name} x{build.lora_scale:g}" if build.lora else ""
    return Weights(True, f"{build.profile} network, weights from {source}{lora}")


def served_record(repository: Path, kind: str) -> PipelineRecord | None:
    """Generation model `kind`'s export record in a local model repository; None where it holds no export of it."""
    version_dir = Path(repository) / kind / "1"
    if not (version_dir / RECORD_FILE).is_file():
        return None
    data = json.loads((version_dir / RECORD_FILE).read_text())
    return PipelineRecord.from_json(data) if "pipeline" in data else None


def served_weights(repository: Path, kind: str) -> Weights | None:
    """The weights of generation model `kind` in a local model repository; None where it holds no export of it."""
    record = served_record(repository, kind)
    return weights(record.build) if record else None
