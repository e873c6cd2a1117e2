"""What a generation model's export.json (written by export/diffusion.py) says must lie beside it: read by the
pipelines when Triton loads them, and by the server's start-up check before Triton is started."""

from __future__ import annotations

from typing import Any


def folders(spec: dict[str, Any]) -> list[str]:
    """The folders in the model's version folder: the scheduler's config, and a tokenizer per text encoder."""
    networks = set(spec["networks"])
    return ["scheduler"] + [name for name, encoder in (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"))
                            if f"{spec['prefix']}_{encoder}" in networks]
