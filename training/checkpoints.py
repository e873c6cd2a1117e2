"""Checkpoint files shared by the training loops."""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Written next to `path` and renamed into place, so a crash never leaves a half-written checkpoint."""
    partial = path.with_suffix(".tmp")
    torch.save(payload, partial)
    os.replace(partial, path)


def resumable_settings(config: Any, **run: Any) -> dict[str, Any]:
    """What a checkpoint must share with a run to be resumed: `run` (data, profile, ...) and the dataclass
    `config` but its number of steps, with tuples as lists, as a checkpoint reads them back."""
    return {**run, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items() if k != "steps"}}


def load_checkpoint(path: Path, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at `path` if it records `recorded` (each key with that value, at its top level): a run of
    the same data and settings, to resume. None where there is none, or it is another run's (with a warning:
    training starts from scratch)."""
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if any(state.get(key) != value for key, value in recorded.items()):
        warnings.warn(f"{path} is from other data or settings; training from scratch", stacklevel=2)
        return None
    return state
