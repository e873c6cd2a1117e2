"""The body of the txt2img, edit, inpaint and tryon Triton Python models.

Each request may carry several rows (one image per row); every row is validated on its own, so a
bad row fails only its request with INVALID_ARG and the model goes on serving. Valid rows from
all requests that the dynamic batcher gathered are grouped by `batch_key()` (same size, steps and
guidance) and denoised together, each with its own seed. Outputs: image UINT8[H, W, 3] and the
seed INT64[1] that made it.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import numpy as np
import triton_python_backend_utils as pb_utils

from atelier.diffusion.inputs import check_work
from atelier.diffusion.networks import TritonNetworks
from atelier.diffusion.pipelines import load_pipeline

MAX_ROWS_PER_CALL = 8


def _invalid(message: str):
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG))


class PipelineModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        # Triton parsed the config.pbtxt: its scheduler parameter, not a second reading of the file
        self.pipeline = load_pipeline(version_dir, TritonNetworks(), config["parameters"]["scheduler"]["string_value"])
        self.inputs = [tensor["name"] for tensor in config["input"]]
        self.required = [tensor["name"] for tensor in config["input"] if not tensor.get("optional", False)]
        self.max_megapixel_steps = float(config["parameters"]["max_megapixel_steps"]["string_value"])

    def rows(self, request) -> list[dict]:
        """The request's rows as {input name: Python value}; ValueError for a malformed request."""
        tensors = {name: pb_utils.get_input_tensor_by_name(request, name) for name in self.inputs}
        if missing := [name for name in self.required if tensors[name] is None]:
            raise ValueError(f"the request lacks the required input {', '.join(missing)}")
        arrays = {name: t.as_numpy().reshape(-1) for name, t in tensors.items() if t is not None}
        count = len(arrays[self.required[0]])
        for name, values in arrays.items():
            if len(values) != count:
                raise ValueError(f"{name} has {len(values)} rows but {self.required[0]} has {count}")
        return [{name: values[i] if isinstance(values[i], bytes) else values[i].item()
                 for name, values in arrays.items()} for i in range(count)]

    def execute(self, requests: list) -> list:
        responses = [None] * len(requests)
        groups = defaultdict(list)  # batch key -> [(request index, row index, parsed row)]
        rows_per_request = {}
        for index, request in enumerate(requests):
            try:
                parsed = [self.pipeline.parse(row) for row in self.rows(request)]
                if len({row.output_size for row in parsed}) > 1:
                    raise ValueError("all rows of one request must give images of the same size")
                check_work(parsed, self.max_megapixel_steps)
            except ValueError as error:
                responses[index] = _invalid(str(error))
                continue
            except Exception as error:  # a network that reading the request needs (try-on's parser) failed
                responses[index] = pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(f"{self.pipeline.kind} failed: {error}"))
                continue
            rows_per_request[index] = parsed
            for row_index, row in enumerate(parsed):
                groups[row.batch_key()].append((index, row_index, row))
        images: dict[tuple[int, int], np.ndarray] = {}
        failures: dict[int, str] = {}
        for members in groups.values():
            for start in range(0, len(members), MAX_ROWS_PER_CALL):
                chunk = members[start : start + MAX_ROWS_PER_CALL]
                try:
                    outputs = self.pipeline([row for _, _, row in chunk])
                except Exception as error:  # reported to the requests concerned; the model stays up
                    for index, _, _ in chunk:
                        failures[index] = f"{self.pipeline.kind} failed: {error}"
                    continue
                for (index, row_index, _), image in zip(chunk, outputs):
                    images[index, row_index] = image
        for index, parsed in rows_per_request.items():
            if index in failures:
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(failures[index]))
                continue
            stacked = np.stack([images[index, i] for i in range(len(parsed))])
            seeds = np.array([[row.seed] for row in parsed], dtype=np.int64)
            responses[index] = pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("image", stacked), pb_utils.Tensor("seed", seeds)]
            )
        return responses
