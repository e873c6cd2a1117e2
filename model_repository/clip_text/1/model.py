"""clip_text: strings in, L2-normalised embeddings out.

Each request is validated on its own, so one bad text fails only its own request. The valid ones
are tokenized with the exported open_clip model's own tokenizer and encoded together through the
`clip_text_encoder` ONNX model (BLS), in chunks the encoder's max batch size allows.
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils

from atelier.text_input import request_text

ENCODER = "clip_text_encoder"
ENCODER_MAX_BATCH = 64


def decode_text(raw: bytes) -> str:
    if not (text := request_text(raw, "text")):
        raise ValueError("text is empty")
    return text


class TritonPythonModel:
    def initialize(self, args):
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        with open(os.path.join(version_dir, "export.json")) as f:
            export = json.load(f)
        import open_clip  # here, after `atelier` (whose import readies torchvision for the CPU torch)

        # `atelier export` wrote the model's open_clip_config.json (and HF tokenizer files) here.
        self.tokenizer = open_clip.get_tokenizer(f"local-dir:{version_dir}")
        # The embedding model record, and the zero-shot label accuracy measured for it (if any).
        info = {**export["embedding_model"], "label_accuracy": export.get("label_accuracy", {})}
        self.model_info = json.dumps(info, sort_keys=True).encode()

    def encode(self, token_ids: np.ndarray) -> np.ndarray:
        chunks = []
        for start in range(0, len(token_ids), ENCODER_MAX_BATCH):
            request = pb_utils.InferenceRequest(
                model_name=ENCODER,
                requested_output_names=["embedding"],
                inputs=[pb_utils.Tensor("input_ids", token_ids[start : start + ENCODER_MAX_BATCH])],
            )
            response = request.exec()
            if response.has_error():
                raise RuntimeError(f"{ENCODER} failed: {response.error().message()}")
            chunks.append(pb_utils.get_output_tensor_by_name(response, "embedding").as_numpy())
        return np.concatenate(chunks)

    def execute(self, requests):
        responses = [None] * len(requests)
        texts, owners = [], []  # owners[i] = index of the request that sent texts[i]
        for index, request in enumerate(requests):
            tensor = pb_utils.get_input_tensor_by_name(request, "text")
            try:
                if tensor is None:
                    raise ValueError("the request lacks the required input text")
                raw = tensor.as_numpy().reshape(-1)
                decoded = [decode_text(item) for item in raw]
            except ValueError as error:
                invalid = pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
                responses[index] = pb_utils.InferenceResponse(error=invalid)
                continue
            texts.extend(decoded)
            owners.extend([index] * len(decoded))
        if texts:
            try:
                embeddings = self.encode(self.tokenizer(texts).numpy().astype(np.int64))
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
