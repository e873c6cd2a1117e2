"""clip_image: encoded images (PNG/JPEG/WebP bytes) in, L2-normalised embeddings out.

Decoding and preprocessing follow the exported open_clip model's own eval transform, recorded by
`atelier export` in export.json (resize mode, size, interpolation, mean, std); the pixel operations
are the ones torchvision applies to PIL images, so results match open_clip's preprocess exactly.
Each request is validated on its own: a corrupt, huge or non-image upload fails only its request.
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils
from PIL import Image

from atelier.images import check_request_pixels, decode_image

ENCODER = "clip_image_encoder"
ENCODER_MAX_BATCH = 64
RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


class Preprocess:
    """open_clip's eval transform for resize modes 'shortest' (square) and 'squash'."""

    def __init__(self, cfg: dict) -> None:
        self.height, self.width = cfg["size"]
        self.resize_mode = cfg["resize_mode"]
        self.resample = RESAMPLING[cfg["interpolation"]]
        self.mean = np.asarray(cfg["mean"], np.float32).reshape(3, 1, 1)
        self.std = np.asarray(cfg["std"], np.float32).reshape(3, 1, 1)

    def __call__(self, image: Image.Image) -> np.ndarray:
        if self.resize_mode == "squash":
            image = image.resize((self.width, self.height), self.resample)
        else:  # shortest side to size (torchvision Resize(int)), then a centre crop
            w, h = image.size
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = self.height, int(self.height * long / short)
            image = image.resize((new_short, new_long) if w <= h else (new_long, new_short), self.resample)
            left = int(round((image.width - self.width) / 2.0))
            top = int(round((image.height - self.height) / 2.0))
            image = image.crop((left, top, left + self.width, top + self.height))
        pixels = np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0
        return (pixels - self.mean) / self.std


class TritonPythonModel:
    def initialize(self, args):
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        with open(os.path.join(version_dir, "export.json")) as f:
            export = json.load(f)
        self.preprocess = Preprocess(export["preprocess"])
        self.model_info = json.dumps(export["embedding_model"], sort_keys=True).encode()

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        chunks = []
        for start in range(0, len(pixels), ENCODER_MAX_BATCH):
            request = pb_utils.InferenceRequest(
                model_name=ENCODER,
                requested_output_names=["embedding"],
                inputs=[pb_utils.Tensor("pixel_values", pixels[start : start + ENCODER_MAX_BATCH])],
            )
            response = request.exec()
            if response.has_error():
                raise RuntimeError(f"{ENCODER} failed: {response.error().message()}")
            chunks.append(pb_utils.get_output_tensor_by_name(response, "embedding").as_numpy())
        return np.concatenate(chunks)

    def execute(self, requests):
        responses = [None] * len(requests)
        pixels, owners = [], []  # owners[i] = index of the request that sent pixels[i]
        for index, request in enumerate(requests):
            tensor = pb_utils.get_input_tensor_by_name(request, "image")
            try:
                if tensor is None:
                    raise ValueError("the request lacks the required input image")
                raw = tensor.as_numpy().reshape(-1)
                check_request_pixels(list(raw))
                decoded = [self.preprocess(decode_image(item)) for item in raw]
            except ValueError as error:
                invalid = pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
                responses[index] = pb_utils.InferenceResponse(error=invalid)
                continue
            pixels.extend(decoded)
            owners.extend([index] * len(decoded))
        if pixels:
            try:
                embeddings = self.encode(np.stack(pixels).astype(np.float32))
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
