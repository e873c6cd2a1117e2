"""clip_image: encoded images (PNG/JPEG/WebP bytes) in, L2-normalised embeddings out.

Decoding and preprocessing follow the exported open_clip model's own eval transform, recorded by
`atelier export` in export.json (resize mode, size, interpolation, mean, std); the pixel operations
are the ones torchvision applies to PIL images, so results match open_clip's preprocess exactly.
Each request is validated on its own: a corrupt, huge or non-image upload fails only its request
(atelier/embedding_triton_model.py does the serving).
"""

import numpy as np
from PIL import Image

from atelier.embedding_triton_model import EmbeddingModel
from atelier.images import check_request_pixels, decode_image

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


class TritonPythonModel(EmbeddingModel):
    input, encoder, encoder_input = "image", "clip_image_encoder", "pixel_values"

    def load(self, version_dir, export):
        self.preprocess = Preprocess(export["preprocess"])

    def read(self, raw):
        check_request_pixels(raw)
        return [self.preprocess(decode_image(item)) for item in raw]

    def batch(self, pixels):
        return np.stack(pixels).astype(np.float32)
