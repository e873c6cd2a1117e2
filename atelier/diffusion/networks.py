"""How a pipeline calls its ONNX networks: in-process ONNX Runtime, or Triton models from a BLS model.

A pipeline only sees `Networks`: call(model name, named inputs, wanted outputs) -> outputs. The
same denoising loop therefore runs inside Triton (TritonNetworks, in the Python models) and in
this process (OnnxNetworks, for benchmarks and debugging) on the very same ONNX files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class Networks(Protocol):
    def __call__(self, model: str, inputs: dict[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]: ...


class OnnxNetworks:
    """Opens `<repository>/<model>/1/model.onnx` with ONNX Runtime on first use."""

    def __init__(self, repository: Path, threads: int = 0) -> None:
        self.repository = Path(repository)
        self.threads = threads
        self.sessions: dict = {}

    def __call__(self, model: str, inputs: dict[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        import onnxruntime as ort

        if model not in self.sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            path = self.repository / model / "1" / "model.onnx"
            self.sessions[model] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return self.sessions[model].run(list(outputs), inputs)


class TritonNetworks:
    """BLS: calls the repository's ONNX models from inside a Triton Python model."""

    def __call__(self, model: str, inputs: dict[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        import triton_python_backend_utils as pb_utils

        request = pb_utils.InferenceRequest(
            model_name=model,
            requested_output_names=list(outputs),
            inputs=[pb_utils.Tensor(name, np.ascontiguousarray(value)) for name, value in inputs.items()],
        )
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{model} failed: {response.error().message()}")
        return [pb_utils.get_output_tensor_by_name(response, name).as_numpy() for name in outputs]

