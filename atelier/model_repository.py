"""The Triton model repository as files: one folder per model, its behaviour in `config.pbtxt`.

`read_config` is the one reader of config.pbtxt (Triton's own protobuf schema). The Python (BLS)
models inside Triton do not call it: Triton hands them the config it parsed, as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.config import AtelierError

if TYPE_CHECKING:
    from tritonclient.grpc.model_config_pb2 import ModelConfig

WEIGHTS_BACKENDS = ("onnxruntime", "tensorrt")  # backends that serve a model.* file of the version folder


def read_config_text(text: str) -> ModelConfig:
    """Imported here, not above: NGC Triton's Python models import this package without tritonclient."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())


def read_config(path: Path) -> ModelConfig:
    """The model's config; a syntax error is an AtelierError naming the file, line and column."""
    from google.protobuf import text_format

    try:
        return read_config_text(Path(path).read_text())
    except text_format.ParseError as error:
        where = f"{path}:{error.GetLine()}:{error.GetColumn()}" if error.GetLine() else str(path)
        reason = str(error).split(" : ", 1)[-1]
        raise AtelierError(f"{where}: {reason} (a config.pbtxt that Triton cannot read; restore it from git or "
                           "export the model again)") from None


def configs(repository: Path) -> dict[str, ModelConfig]:
    """Every model of the repository by name, in name order."""
    return {path.parent.name: read_config(path) for path in sorted(Path(repository).glob("*/config.pbtxt"))}


def parameter(config: ModelConfig, name: str) -> str:
    """A `parameters { key: NAME value { string_value: ... } }` entry; KeyError if the config sets none."""
    if name not in config.parameters:
        raise KeyError(f"config of {config.name or 'the model'} sets no {name!r} parameter")
    return config.parameters[name].string_value


def configured_scheduler(model_dir: Path) -> str:
    """The scheduler a generation model's config.pbtxt names: the one place it is chosen."""
    return parameter(read_config(Path(model_dir) / "config.pbtxt"), "scheduler")


def tensorrt_models(repository: Path) -> list[str]:
    """Models whose config needs Triton's TensorRT backend (which the embedded server does not have)."""
    return [name for name, config in configs(repository).items()
            if config.backend == "tensorrt" or config.platform == "tensorrt_plan"]


def missing_exports(repository: Path) -> list[str]:
    """Models in the repository whose backend needs a weights file that is not there yet."""
    missing = []
    for name, config in configs(repository).items():
        folder = Path(repository) / name
        if config.backend in WEIGHTS_BACKENDS or config.platform:
            versions = [p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
            if not any(any(v.glob("model.*")) for v in versions):
                missing.append(name)
        elif config.backend == "python" and not list(folder.glob("*/export.json")):
            missing.append(name)
    return missing


def clip_record(repository: Path) -> dict[str, Any]:
    """The CLIP export's record (export/clip.py: its build, embedding model and label accuracy); empty where the
    repository holds no CLIP export."""
    path = Path(repository) / "clip_text" / "1" / "export.json"
    return json.loads(path.read_text()) if path.exists() else {}
