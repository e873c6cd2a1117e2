"""What a generation model's export.json (written by export/diffusion.py) says: the folders that must lie beside it
(read by the pipelines when Triton loads them, and by the server's start-up check), and which weights its networks
carry (shown beside every image they make, in the dashboard and the CLI)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def folders(spec: dict[str, Any]) -> list[str]:
    """The folders in the model's version folder: the scheduler's config, and a tokenizer per text encoder."""
    networks = set(spec["networks"])
    return ["scheduler"] + [name for name, encoder in (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"))
                            if f"{spec['prefix']}_{encoder}" in networks]


NO_RECORD = "weights unknown: no export record of this model in the model repository read here"


@dataclass(frozen=True)
class Weights:
    learned: bool  # False: the tiny profile's random initialisation, whose images are noise
    text: str  # in a user's words, for a caption


def weights(spec: dict[str, Any]) -> Weights:
    """Which weights the model's networks were exported with (export.json "build")."""
    build = spec["build"]
    if build["profile"] == "tiny" and build["source"] is None:
        trained = [f"{part} trained ({Path(build[key]).name})" for part, key in (("LoRA", "lora"),
                                                                                  ("attention", "attention"))
                   if build.get(key)]
        return Weights(False, ", ".join(["tiny network, random weights", *trained]))
    source = build["source"] or "the full profile's published checkpoint"
    lora = f", LoRA {Path(build['lora']).name} x{build['lora_scale']:g}" if build.get("lora") else ""
    return Weights(True, f"{build['profile']} network, weights from {source}{lora}")


def served_record(repository: Path, kind: str) -> dict[str, Any]:
    """Generation model `kind`'s export.json in a local model repository; empty where it holds no export of it."""
    record = Path(repository) / kind / "1" / "export.json"
    spec = json.loads(record.read_text()) if record.is_file() else {}
    return spec if "pipeline" in spec else {}


def served_weights(repository: Path, kind: str) -> Weights | None:
    """The weights of generation model `kind` in a local model repository; None where it holds no export of it."""
    spec = served_record(repository, kind)
    return weights(spec) if spec else None
