"""A Python-based Triton backend named `onnxruntime`.

The tritonserver build in the nvidia-pytriton wheel has no native ONNX Runtime backend, but Triton
loads `<backend-directory>/onnxruntime/model.py` for every model whose config says
`backend: "onnxruntime"`. This file is that backend: it opens `<model>/<version>/model.onnx`
with ONNX Runtime and maps the config's inputs and outputs. In an NGC Triton container the
native backend takes over and this file is not used, so one repository serves both.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        filename = config.get("default_model_filename") or "model.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("ATELIER_ORT_THREADS", "0"))
        self.session = ort.InferenceSession(
            os.path.join(version_dir, filename), options, providers=["CPUExecutionProvider"]
        )
        self.batched = config.get("max_batch_size", 0) > 0
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.output_names = [tensor["name"] for tensor in config["output"]]
        self.output_dtypes = {
            tensor["name"]: pb_utils.triton_string_to_numpy(tensor["data_type"]) for tensor in config["output"]
        }

    def execute(self, requests):
        if not self.batched:  # whole tensors, batch dimension included: each request runs on its own
            return [self.run([request])[0] for request in requests]
        return self.run(requests)

    def run(self, requests):
        # Requests gathered by the dynamic batcher run as one ONNX call, then are split back.
        feeds = {
            name: np.concatenate([pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests])
            for name in self.input_names
        }
        sizes = [pb_utils.get_input_tensor_by_name(r, self.input_names[0]).as_numpy().shape[0] for r in requests]
        try:
            outputs = self.session.run(self.output_names, feeds)
        except Exception as error:  # a bad input must fail its requests, never the model
            message = f"onnxruntime failed: {error}"
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(message)) for _ in requests]
        responses, start = [], 0
        for size in sizes:
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(out[start : start + size], self.output_dtypes[name]))
                for name, out in zip(self.output_names, outputs)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
