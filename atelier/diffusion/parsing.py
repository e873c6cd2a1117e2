"""The try-on mask derived from the person photo and the garment type, by the exported human parser.

`tryon_parser` (export/human_parser.py: SegFormer with ATR's labels) labels every pixel of the photo;
the mask is the labels a try-on of that garment type repaints, dilated. Runs inside Triton's Python
model (over TritonNetworks) and in this process (over OnnxNetworks) alike: numpy, PIL and torch only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from atelier.config import AtelierError
from atelier.diffusion.networks import Networks

MODEL = "tryon_parser"
WORKING_SIDE = 1024  # the longest side a photo is parsed at
# What a try-on of each garment type repaints, by the parser's label names (ATR's), as training/viton.py's
# garment_mask does with VITON-HD's: the garment, and the arms or legs that sleeves or trouser legs of another
# length uncover or cover. A dress counts as an upper garment, as in VITON-HD's parse groups. Scarf and bag are
# accessories the person keeps. ATR has no neck label, so the neckline is repainted only as far as the dilation.
UPPER = ("Upper-clothes", "Dress", "Left-arm", "Right-arm")
LOWER = ("Skirt", "Pants", "Belt", "Left-leg", "Right-leg")
GARMENT_LABELS = {"upper": UPPER, "lower": LOWER, "overall": UPPER + LOWER}


def garment_label_ids(labels: list[str]) -> dict[str, np.ndarray]:
    """Garment type -> the ids of the labels it repaints, in a parser's label list (names by id)."""
    missing = sorted({name for names in GARMENT_LABELS.values() for name in names} - set(labels))
    if missing:
        raise AtelierError(f"the human parser has no {', '.join(missing)} label; its labels are {labels}")
    return {kind: np.array([labels.index(name) for name in names]) for kind, names in GARMENT_LABELS.items()}


def dilation_radius(size: tuple[int, int]) -> int:
    """1/64 of the longer side, as training/viton.py: parsers miss a garment's fringe."""
    return max(1, round(max(size) / 64))


def dilate(area: np.ndarray, radius: int) -> np.ndarray:
    """`area` (bool, H x W) grown by `radius` pixels in a square window, as training/viton.py's max_pool2d, in
    two 1-D passes: PIL's MaxFilter takes seconds at the radius of a 1536-pixel photo, this a tenth of one."""
    grown = torch.from_numpy(area.astype(np.float32))[None, None]
    grown = F.max_pool2d(grown, (2 * radius + 1, 1), stride=1, padding=(radius, 0))
    grown = F.max_pool2d(grown, (1, 2 * radius + 1), stride=1, padding=(0, radius))
    return grown[0, 0].numpy() > 0


class HumanParser:
    """`parser(person, garment_type) -> mask`, the callable that try-on's request parser takes
    (atelier/diffusion/pipelines/tryon.py).

    `spec` is the export's parser.json: the labels by id and the preprocessing of the checkpoint's
    SegformerImageProcessor, which this repeats: RGB, bilinear antialiased resize of the uint8 image to
    the fixed size (as transformers' default torchvision backend; its PIL backend can differ by one
    level), rescale, normalise.
    """

    def __init__(self, networks: Networks, spec: dict[str, Any]) -> None:
        self.networks = networks
        self.label_ids = garment_label_ids(list(spec["labels"]))
        preprocess = spec["preprocess"]
        self.size = (preprocess["height"], preprocess["width"])
        self.rescale_factor = preprocess["rescale_factor"]
        self.mean = np.asarray(preprocess["image_mean"], np.float32)[:, None, None]
        self.std = np.asarray(preprocess["image_std"], np.float32)[:, None, None]

    def preprocess(self, person: Image.Image) -> np.ndarray:
        """pixel_values FP32[1, 3, height, width], as the processor's for this photo."""
        pixels = torch.from_numpy(np.array(person.convert("RGB"))).permute(2, 0, 1)[None]
        resized = F.interpolate(pixels, size=self.size, mode="bilinear", antialias=True, align_corners=False)
        values = resized[0].numpy().astype(np.float32) * np.float32(self.rescale_factor)
        return ((values - self.mean) / self.std)[None]

    def labels(self, person: Image.Image) -> np.ndarray:
        """The label id of every pixel, (height, width) at the photo's size: the logits upsampled bilinearly
        before the argmax, as the model card does."""
        logits = self.networks(MODEL, {"pixel_values": self.preprocess(person)}, ["logits"])[0]
        upsampled = F.interpolate(torch.tensor(logits), size=(person.height, person.width), mode="bilinear",
                                  align_corners=False)
        return upsampled.argmax(dim=1)[0].numpy()

    def __call__(self, person: Image.Image, garment_type: str) -> Image.Image:
        """The area to repaint, "L" 0/255 at the photo's size; empty where the parser finds none of it.

        A photo larger than WORKING_SIDE is parsed at that size and the mask scaled up (nearest): 18
        channels of logits at 40 megapixels would take gigabytes.
        """
        if garment_type not in GARMENT_LABELS:
            raise ValueError(f"garment_type must be one of {', '.join(GARMENT_LABELS)}, not {garment_type!r}")
        scale = min(1.0, WORKING_SIDE / max(person.size))
        work = person.resize((max(1, round(person.width * scale)), max(1, round(person.height * scale))),
                             Image.Resampling.BILINEAR) if scale < 1 else person
        area = dilate(np.isin(self.labels(work), self.label_ids[garment_type]), dilation_radius(work.size))
        mask = Image.fromarray(area.astype(np.uint8) * 255)
        return mask.resize(person.size, Image.Resampling.NEAREST) if scale < 1 else mask


def load_human_parser_if_exported(repository: Path | str, networks: Networks) -> HumanParser | None:
    """The parser that export/human_parser.py wrote into the model repository `repository`; None where none is."""
    spec = Path(repository) / MODEL / "1" / "parser.json"
    return HumanParser(networks, json.loads(spec.read_text())) if spec.is_file() else None
