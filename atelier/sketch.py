"""Drawings made comparable to product photos, and photos turned into pseudo-sketches.

A sketch pad gives thin or thick strokes anywhere on a large canvas; a product photo shows one
garment, centred, filling the frame. `preprocess_sketch` closes that gap: it finds the ink (any
colour that differs from the paper), crops to it, pads to a centred square with a margin, scales
to a fixed size and normalises the stroke width, and returns black strokes on white.
`pseudo_sketch` draws a photo's edges the same way, for `atelier eval sketch`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

PAD = 400  # the Sketch page's drawing pad, in pixels
SIZE = 224
MARGIN = 0.08  # of the square side, on each side
STROKE = 3  # target stroke width in pixels at SIZE
INK_CONTRAST = 40  # grey levels between ink and paper
# How much a few words count against the drawing, where the Sketch page's slider starts: on the demo's CLIP
# the best worse-of-garment-and-colour precision of hand drawings with a colour word on the training split
# (a one-off run: 0.68, 0.91, 0.93, 0.92 at 0.2, 0.3, 0.4, 0.5); `atelier eval sketch` measures it.
WORDS_WEIGHT = 0.4


def ink_mask(image: Image.Image) -> np.ndarray:
    """True where something is drawn: pixels that differ from the paper (the median grey: paper dominates)."""
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    grey = np.asarray(image.convert("L"), dtype=np.int16)
    return np.abs(grey - int(np.median(grey))) > INK_CONTRAST


def stroke_width(mask: np.ndarray) -> int:
    """Roughly the strokes' width: twice the 3x3 erosions it takes to remove half of the ink."""
    image, total, erosions = Image.fromarray(mask.astype(np.uint8) * 255), mask.sum(), 0
    while erosions < 20 and np.asarray(image).astype(bool).sum() > 0.5 * total:
        image = image.filter(ImageFilter.MinFilter(3))
        erosions += 1
    return max(1, 2 * erosions)


def preprocess_sketch(image: Image.Image, size: int = SIZE) -> Image.Image:
    """Black strokes of width ~STROKE on white, cropped to the drawing and centred in a square."""
    mask = ink_mask(image)
    if not mask.any():
        raise ValueError("the sketch is empty: draw a garment first")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    cropped = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    inner = round(size * (1 - 2 * MARGIN))
    scale = inner / max(cropped.shape)
    scaled_size = (max(1, round(cropped.shape[1] * scale)), max(1, round(cropped.shape[0] * scale)))
    ink = Image.fromarray(cropped.astype(np.uint8) * 255).resize(scaled_size, Image.Resampling.BOX)
    ink = ink.point(lambda value: 255 if value >= 64 else 0)
    for _ in range(12):  # thicken hairlines, thin marker strokes, one pixel a side at a time
        width = stroke_width(np.asarray(ink) > 0)
        if width < STROKE:
            ink = ink.filter(ImageFilter.MaxFilter(3))
        elif width > 2 * STROKE:
            ink = ink.filter(ImageFilter.MinFilter(3))
        else:
            break
    canvas = Image.new("L", (size, size), 0)
    canvas.paste(ink, ((size - ink.width) // 2, (size - ink.height) // 2))
    return ImageOps.invert(canvas).convert("RGB")


def pseudo_sketch(photo: Image.Image) -> Image.Image:
    """A photo's outlines as dark lines on white, roughly what someone would draw of it."""
    smooth = photo.convert("RGB").filter(ImageFilter.GaussianBlur(1))
    edges = np.asarray(smooth.filter(ImageFilter.FIND_EDGES), dtype=np.float32).max(axis=2)
    edges[:2], edges[-2:], edges[:, :2], edges[:, -2:] = 0, 0, 0, 0  # FIND_EDGES marks the frame itself
    lines = edges > max(6.0, edges.mean() + edges.std())
    return Image.fromarray(np.where(lines, 0, 255).astype(np.uint8)).convert("RGB")
