"""The body of the clip_text and clip_image Triton Python models: what requests send in, L2-normalised
embeddings and the embedding model's record (`model_info`) out.

Each request is read on its own, so a bad one fails only itself with INVALID_ARG. The valid ones are
embedded together through the ONNX encoder (BLS), in chunks its max batch size allows; an encoder
failure is reported to every pending request, and the model stays up.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

ENCODER_MAX_BATCH = 64


class EmbeddingModel:
    """A subclass names its input and encoder, reads one request's items, and batches items for the encoder."""

    input = ""  # the request tensor: "text" or "image"
    encoder = ""  # the ONNX model that embeds: "clip_text_encoder" or "clip_image_encoder"
    encoder_input = ""  # its input tensor

    def initialize(self, args: dict) -> None:
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        with open(os.path.join(version_dir, "export.json")) as f:
            export = json.load(f)
        self.load(version_dir, export)
        self.model_info = json.dumps(self.info(export), sort_keys=True).encode()

    def load(self, version_dir: str, export: dict[str, Any]) -> None:
        """What the subclass needs from `atelier export`'s files (a tokenizer, the preprocessing)."""

    def info(self, export: dict[str, Any]) -> dict[str, Any]:
        """model_info: the embedding model's record, by which clients refuse to mix models."""
        return export["embedding_model"]

    def read(self, raw: list) -> list:
        """One request's items, ready to batch; ValueError (with the user's reason) for a bad request."""
        raise NotImplementedError

    def batch(self, items: list) -> np.ndarray:
        raise NotImplementedError

    def encode(self, batch: np.ndarray) -> np.ndarray:
        chunks = []
        for start in range(0, len(batch), ENCODER_MAX_BATCH):
            request = pb_utils.InferenceRequest(
                model_name=self.encoder,
                requested_output_names=["embedding"],
                inputs=[pb_utils.Tensor(self.encoder_input, batch[start : start + ENCODER_MAX_BATCH])],
            )
            response = request.exec()
            if response.has_error():
                raise RuntimeError(f"{self.encoder} failed: {response.error().message()}")
            chunks.append(pb_utils.get_output_tensor_by_name(response, "embedding").as_numpy())
        return np.concatenate(chunks)

    def execute(self, requests: list) -> list:
        responses = [None] * len(requests)
        items, owners = [], []  # owners[i] = index of the request that sent items[i]
        for index, request in enumerate(requests):
            tensor = pb_utils.get_input_tensor_by_name(request, self.input)
            try:
                if tensor is None:
                    raise ValueError(f"the request lacks the required input {self.input}")
                read = self.read(list(tensor.as_numpy().reshape(-1)))
            except ValueError as error:
                invalid = pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
                responses[index] = pb_utils.InferenceResponse(error=invalid)
                continue
            items.extend(read)
            owners.extend([index] * len(read))
        if items:
            try:
                embeddings = self.encode(self.batch(items))
            except Exception as error:  # report to every pending request; the model stays up
                embeddings, failure = None, str(error)
            owners = np.asarray(owners)
            for index in set(owners.tolist()):
                if embeddings is None:
                    responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(failure))
                    continue
                rows = embeddings[owners == index]
                info = np.array([[self.model_info]] * len(rows), dtype=np.object_)
                responses[index] = pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("embedding", rows), pb_utils.Tensor("model_info", info)]
                )
        return responses
