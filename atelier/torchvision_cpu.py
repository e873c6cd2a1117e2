"""Lets PyPI's torchvision import next to the CPU build of torch.

PyPI only has CUDA builds of torchvision. Next to the CPU torch wheel (2 GB instead of 7 GB of CUDA
packages) its C++ ops cannot load, which torchvision tolerates, except that 0.28 then registers a
fake kernel for `torchvision::nms` and `torchvision::qnms` unconditionally and fails at import.
Declaring those two schemas first lets the pure-Python parts that open_clip uses (transforms,
models) import; the C++ ops themselves stay unavailable, as they are anyway on this build.

`atelier/__init__.py` imports this module, so the hook is in place in every process that imports the
library before torchvision (the CLI, the dashboard, the tests, Triton's Python models). It costs nothing
until something imports torchvision, and does nothing where torchvision's ops load (NGC Triton's image
installs a matching CPU pair: docker/triton.Dockerfile). No CPU build of torchvision can be installed
here: PyPI has only CUDA builds, and the CPU index is not reachable.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # kept alive: dropping a torch.library.Library removes its definitions


def _declare_missing_ops() -> None:
    global _library
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return
    import torch

    extensions = list(Path(spec.origin).parent.glob("_C*.so"))
    try:
        torch.ops.load_library(str(extensions[0]))
        return  # torchvision's own ops load: nothing to declare
    except (IndexError, OSError):
        pass
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _library.define(schema)


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs once, just before the first `import torchvision`, then leaves the import to the usual finders."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 - the MetaPathFinder protocol
        if name == "torchvision":
            sys.meta_path.remove(self)
            _declare_missing_ops()
        return None


def install() -> None:
    if not any(isinstance(finder, _BeforeTorchvision) for finder in sys.meta_path):
        sys.meta_path.insert(0, _BeforeTorchvision())


install()
