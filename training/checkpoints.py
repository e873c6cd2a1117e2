"""Checkpoint files shared by the training loops."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Written next to `path` and renamed into place, so a crash never leaves a half-written checkpoint."""
    partial = path.with_suffix(".tmp")
    torch.save(payload, partial)
    os.replace(partial, path)
