"""How the generation eval shows the judge an inpainted half: mirrored into a whole garment."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from evaluation.generation import _half_mask, _painted_half
from training.generation_data import Look, draw


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_painted_half_is_shown_whole_mirrored_and_the_other_half_is_not_read(side: str) -> None:
    mask = _half_mask(side)
    painted, other = draw(Look("dress", "red", "polka dot"), 0), draw(Look("shirt", "navy", "striped"), 0)
    shown = np.asarray(_painted_half(Image.composite(painted, other, mask), mask))
    half = shown.shape[1] // 2
    left, right = (slice(None, half), slice(half, None))
    kept, mirrored = (left, right) if side == "left" else (right, left)
    np.testing.assert_array_equal(shown[:, kept], np.asarray(painted)[:, kept])
    np.testing.assert_array_equal(shown[:, mirrored], shown[:, kept][:, ::-1])
