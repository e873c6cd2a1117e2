"""Drawings of the demo garments: black strokes on a white pad, seeded, and what makes the hand ones hand-like."""

from __future__ import annotations

import random

import numpy as np
import pytest

from atelier.demo_sketches import PAD, hand_sketch, outline_sketch
from atelier.sketch import ink_mask
from atelier.vocabulary import GARMENTS


@pytest.mark.parametrize("draw", [outline_sketch, hand_sketch])
def test_every_garment_is_drawn_in_black_on_the_white_pad_and_the_same_seed_draws_the_same(draw):
    for garment in GARMENTS:
        picture = draw(garment, random.Random(3))
        assert picture.size == (PAD, PAD) and picture.mode == "RGB"
        pixels = np.asarray(picture)
        assert set(np.unique(pixels)) <= {0, 255}  # no colour: only ink and paper
        assert 0.002 < ink_mask(picture).mean() < 0.25
        assert np.array_equal(pixels, np.asarray(draw(garment, random.Random(3))))
    assert not np.array_equal(np.asarray(draw("coat", random.Random(1))), np.asarray(draw("coat", random.Random(2))))


def test_hand_drawings_wander_over_the_pad_and_vary_in_size():
    boxes = []
    for seed in range(40):
        ink = ink_mask(hand_sketch("t-shirt", random.Random(seed)))
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        boxes.append((cols[0], rows[0], cols[-1] - cols[0], rows[-1] - rows[0]))
    lefts, tops, widths, _ = np.array(boxes).T
    assert lefts.max() - lefts.min() > PAD / 4 and tops.max() - tops.min() > PAD / 4  # off-centre, anywhere
    assert widths.max() > 2 * widths.min()  # small doodles and drawings that fill the pad
