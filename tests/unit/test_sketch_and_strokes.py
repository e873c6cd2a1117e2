"""Canvas strokes to an inpainting mask, and sketch preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from atelier.images import mask_from_strokes
from atelier.sketch import SIZE, STROKE, ink_mask, preprocess_sketch, pseudo_sketch, stroke_width


def strokes(width: int = 300, height: int = 200, alpha: int = 153) -> np.ndarray:
    layer = np.zeros((height, width, 4), np.uint8)
    layer[50:100, 60:120] = (255, 255, 255, alpha)
    layer[10, 10] = (255, 255, 255, 8)  # an anti-aliasing speck below the threshold
    return layer


def test_strokes_scale_from_the_canvas_to_the_image():
    mask = np.asarray(mask_from_strokes(strokes(), (600, 400)))
    assert mask.shape == (400, 600) and set(np.unique(mask)) == {0, 255}
    assert mask[100:200, 120:240].all() and not mask[:100].any() and not mask[:, 240:].any()
    assert mask[20, 20] == 0  # below the alpha threshold


def test_strokes_count_only_above_the_alpha_threshold():
    assert np.asarray(mask_from_strokes(strokes(alpha=200), (300, 200), alpha_threshold=16)).any()
    with pytest.raises(ValueError, match="nothing is painted"):
        mask_from_strokes(strokes(alpha=200), (300, 200), alpha_threshold=220)


def test_an_empty_canvas_is_refused():
    with pytest.raises(ValueError, match="nothing is painted"):
        mask_from_strokes(np.zeros((200, 300, 4), np.uint8), (300, 200))
    with pytest.raises(ValueError, match="expected an RGBA drawing"):
        mask_from_strokes(np.zeros((200, 300), np.uint8), (300, 200))


def drawing(line_width: int, paper: str | tuple = "white", ink: str | tuple = "black") -> Image.Image:
    image = Image.new("RGBA" if isinstance(paper, tuple) else "RGB", (600, 400), paper)
    ImageDraw.Draw(image).rectangle([400, 40, 520, 360], outline=ink, width=line_width)
    return image


@pytest.mark.parametrize("line_width", [1, 3, 12, 30])
def test_preprocessing_crops_centres_and_normalises_the_stroke(line_width):
    out = preprocess_sketch(drawing(line_width))
    assert out.size == (SIZE, SIZE) and out.mode == "RGB"
    ink = ink_mask(out)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows[0] >= 10 and SIZE - 1 - rows[-1] >= 10  # the margin
    assert abs((cols[0] + cols[-1]) / 2 - SIZE / 2) < 3  # centred although drawn off to the right
    assert rows[-1] - rows[0] > 0.8 * SIZE  # the drawing fills the square
    assert STROKE - 1 <= stroke_width(ink) <= 4 * STROKE


def test_transparent_pads_and_light_ink_on_dark_paper_work_too():
    transparent = drawing(4, paper=(0, 0, 0, 0), ink=(20, 20, 200, 255))
    dark = drawing(4, paper="black", ink="white")
    for image in (transparent, dark):
        out = np.asarray(preprocess_sketch(image).convert("L"))
        assert (out < 128).mean() < 0.3 and out[0, 0] == 255  # dark strokes on white paper


def test_an_empty_sketch_is_refused():
    with pytest.raises(ValueError, match="the sketch is empty"):
        preprocess_sketch(Image.new("RGB", (300, 300), "white"))


def test_pseudo_sketch_draws_the_outline_of_a_product():
    photo = Image.new("RGB", (128, 128), (225, 228, 230))
    ImageDraw.Draw(photo).rectangle([32, 20, 96, 110], fill=(150, 172, 130))
    sketch = np.asarray(pseudo_sketch(photo).convert("L"))
    assert sketch[20:111, 30:35].min() == 0 and sketch[60, 64] == 255 and sketch[5, 5] == 255
