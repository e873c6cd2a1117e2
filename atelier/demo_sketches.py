"""Drawings of the demo catalog's garments, for training and measuring sketch search without a person drawing.

Two kinds, drawn from the same garment outlines the catalog drawer fills (`demo_catalog.SHAPES`), on a white
pad like the dashboard's, with no colour:

- `outline_sketch`: the garment's outline in straight strokes of one width, a little stretched and tilted,
  a few of its segments left out. Training uses it (with edge maps of the photos, `pseudo_sketch`).
- `hand_sketch`: what a person draws with a mouse: wobbly strokes that overshoot or stop short, gaps, a
  width between a hairline and a marker, the drawing off-centre on the pad at any size, seams sometimes.
  The evaluation uses it; training never sees its wobble, its pen lifts or its ends that overshoot.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from PIL import Image, ImageDraw

from atelier.demo_catalog import SHAPES
from atelier.sketch import PAD

_Polyline = list[tuple[float, float]]


def _oval(box: Sequence[float], points: int = 28) -> _Polyline:
    left, top, right, bottom = box
    cx, cy, rx, ry = (left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2
    return [(cx + rx * math.cos(2 * math.pi * k / points), cy + ry * math.sin(2 * math.pi * k / points))
            for k in range(points)]


def _strokes(garment: str, seams: bool) -> list[_Polyline]:
    """The garment's outlines (closed) and, with `seams`, its seam lines, in unit coordinates."""
    shape = SHAPES[garment]
    closed = [[*polygon, polygon[0]] for polygon in shape.polygons]
    closed += [[*points, points[0]] for points in map(_oval, shape.ovals)]
    return closed + ([list(line) for line in shape.lines] if seams else [])


def _placed(strokes: list[_Polyline], size: tuple[float, float], centre: tuple[float, float],
            turn: float) -> list[_Polyline]:
    """Unit strokes scaled to `size` pixels, rotated by `turn` radians, centred on `centre`."""
    cos, sin = math.cos(turn), math.sin(turn)
    return [[(centre[0] + (x - 0.5) * size[0] * cos - (y - 0.5) * size[1] * sin,
              centre[1] + (x - 0.5) * size[0] * sin + (y - 0.5) * size[1] * cos) for x, y in stroke]
            for stroke in strokes]


def outline_sketch(garment: str, rng: random.Random) -> Image.Image:
    """The garment's outline in straight black strokes on a white pad, in the proportions and at the tilt a
    person might draw it, a few short pieces left out."""
    side = PAD * rng.uniform(0.6, 0.9)
    aspect = rng.uniform(0.88, 1.12)
    centre = (PAD / 2 + rng.uniform(-20, 20), PAD / 2 + rng.uniform(-20, 20))
    strokes = _placed(_strokes(garment, seams=rng.random() < 0.5), (side * aspect, side / aspect), centre,
                      math.radians(rng.uniform(-6, 6)))
    pad = Image.new("RGB", (PAD, PAD), "white")
    draw, width = ImageDraw.Draw(pad), rng.randint(2, 8)
    for stroke in strokes:
        for start, end in zip(stroke, stroke[1:]):
            if rng.random() > 0.06:
                draw.line([start, end], fill="black", width=width, joint="curve")
    return pad


def _resampled(stroke: _Polyline, step: float) -> _Polyline:
    """Points every `step` pixels along the polyline."""
    points = [stroke[0]]
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        for k in range(1, max(1, round(length / step)) + 1):
            t = k / max(1, round(length / step))
            points.append((x0 + t * (x1 - x0), y0 + t * (y1 - y0)))
    return points


def _wobbly(stroke: _Polyline, rng: random.Random, amplitude: float) -> _Polyline:
    """The stroke displaced by smooth noise (three random waves along its length), as a hand drifts."""
    waves = [(rng.uniform(0.01, 0.06), rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)) for _ in range(3)]
    return [(x + amplitude * sum(math.sin(f * k + px) for f, px, _ in waves) / 3,
             y + amplitude * sum(math.sin(f * k + py) for f, _, py in waves) / 3) for k, (x, y) in enumerate(stroke)]


def hand_sketch(garment: str, rng: random.Random) -> Image.Image:
    """The garment drawn as a person does with a mouse: see the module docstring."""
    side = PAD * rng.uniform(0.3, 0.85)
    aspect = rng.uniform(0.85, 1.15)
    size = (side * aspect, side / aspect)
    margin = (max(size) / 2) + 6
    centre = (rng.uniform(margin, PAD - margin), rng.uniform(margin, PAD - margin))
    strokes = _placed(_strokes(garment, seams=rng.random() < 0.4), size, centre, math.radians(rng.uniform(-8, 8)))
    pad = Image.new("RGB", (PAD, PAD), "white")
    draw = ImageDraw.Draw(pad)
    width, amplitude = rng.choice((1, 2, 3, 4, 6, 9, 12)), rng.uniform(1.5, 6)
    for stroke in strokes:
        points = _wobbly(_resampled(stroke, 3.0), rng, amplitude)
        start = int(len(points) * rng.uniform(0, 0.04))  # stops short or overshoots a little at both ends
        end = len(points) - int(len(points) * rng.uniform(0, 0.04))
        points = points[start:end]
        if len(points) > 30 and rng.random() < 0.3:  # the pen lifted once on the way
            gap = rng.randrange(5, len(points) - 10)
            pieces = [points[:gap], points[gap + rng.randint(2, 6):]]
        else:
            pieces = [points]
        for piece in pieces:
            if len(piece) > 1:
                draw.line(piece, fill="black", width=width, joint="curve")
    return pad
