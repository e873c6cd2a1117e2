"""A tiny synthetic try-on data set in VITON-HD's layout (see training/viton.py), for tests and smoke runs.

Each person is a simple figure (hair, face, neck, arms, trousers, shoes) on a plain background wearing a top;
the top is the flat garment of the same name in cloth/ under an affine map (scale, shift, slight shear), so a
thin-plate-spline warp can learn to put one onto the other. The parse maps are palette PNGs whose colours'
luminance does not grow with the label id, so a reader that takes luminance for ids gets them wrong.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from training.viton import (
    FACE,
    HAIR,
    LABELS,
    LEFT_ARM,
    LEFT_LEG,
    LEFT_SHOE,
    NECK,
    PANTS,
    RIGHT_ARM,
    RIGHT_LEG,
    RIGHT_SHOE,
    UPPER_CLOTHES,
    garment_mask,
)

# LIP-style colours, one per label id: (254,85,0) for 5 is brighter than (0,0,254) for 13, and so on.
PALETTE = ((0, 0, 0), (128, 0, 0), (254, 0, 0), (0, 85, 0), (169, 0, 51), (254, 85, 0), (0, 0, 85), (0, 119, 221),
           (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 254), (51, 169, 220),
           (0, 254, 254), (85, 254, 169), (169, 254, 85), (254, 254, 0), (254, 169, 0))
_COLOURS = ((200, 30, 40), (30, 90, 200), (40, 150, 70), (240, 190, 40), (120, 50, 160), (20, 20, 30),
            (230, 110, 30), (20, 160, 170), (230, 120, 170), (110, 70, 40))
_SKIN = ((241, 194, 160), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172))
_HAIR = ((40, 25, 15), (90, 60, 30), (20, 20, 20), (170, 120, 60))


@dataclass
class SyntheticPair:
    person: Image.Image  # RGB
    parse: np.ndarray  # (H, W) uint8 label ids
    keypoints: np.ndarray  # (25, 3) OpenPose BODY_25 x, y, confidence
    cloth: Image.Image  # RGB on white
    cloth_mask: Image.Image  # "L" 0/255
    agnostic: Image.Image  # RGB, the person grey where agnostic_mask is
    agnostic_mask: Image.Image  # "L" 0/255


def _pattern(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 fabric: solid, stripes, checks or dots in one or two colours."""
    height, width = size
    first, second = (np.array(_COLOURS[i]) for i in rng.choice(len(_COLOURS), 2, replace=False))
    y, x = np.mgrid[:height, :width]
    period = max(4, round(width * rng.uniform(0.06, 0.12)))
    kind = rng.integers(5)
    if kind == 0:
        second_where = np.zeros((height, width), bool)
    elif kind == 1:
        second_where = (y // (period // 2)) % 2 == 1
    elif kind == 2:
        second_where = (x // (period // 2)) % 2 == 1
    elif kind == 3:
        second_where = ((y // period) + (x // period)) % 2 == 1
    else:
        second_where = ((y % period - period / 2) ** 2 + (x % period - period / 2) ** 2) < (period / 4) ** 2
    return np.where(second_where[..., None], second, first).astype(np.uint8)


def _garment(rng: np.random.Generator, size: tuple[int, int]) -> tuple[Image.Image, Image.Image, dict]:
    """A flat top centred on white, its mask, and its landmarks (x, y pixels) for dressing the figure."""
    height, width = size
    body, top, hem = rng.uniform(0.2, 0.26), 0.14, rng.uniform(0.8, 0.9)
    sleeve, neck, neck_depth = rng.uniform(0.0, 0.14), rng.uniform(0.06, 0.1), rng.uniform(0.03, 0.1)

    def side(sign: float) -> list[tuple[float, float]]:  # shoulder to hem on one side, sleeve included
        shoulder = (0.5 + sign * body, top + 0.02)
        armpit = (0.5 + sign * body, top + 0.17)
        cuff = [(0.5 + sign * (body + sleeve), top + 0.06 + sleeve), (0.5 + sign * (body + sleeve * 0.6),
                                                                      top + 0.14 + sleeve)] if sleeve > 0.03 else []
        return [shoulder, *cuff, armpit, (0.5 + sign * body * 1.05, hem)]

    outline = [(0.5 - neck, top), (0.5, top + neck_depth), (0.5 + neck, top), *side(1), *side(-1)[::-1]]
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).polygon([(x * width, y * height) for x, y in outline], fill=255)
    fabric = Image.fromarray(_pattern(rng, size))
    cloth = Image.new("RGB", (width, height), (255, 255, 255))
    cloth.paste(fabric, mask=mask)
    landmarks = {"collar": (0.5, top), "right_shoulder": (0.5 - body, top + 0.02),
                 "left_shoulder": (0.5 + body, top + 0.02), "right_hip": (0.5 - body * 0.8, hem),
                 "left_hip": (0.5 + body * 0.8, hem)}
    return cloth, mask, {name: (x * width, y * height) for name, (x, y) in landmarks.items()}


def synthetic_pair(index: int, size: tuple[int, int] = (128, 96), seed: int = 0, split: str = "train") -> SyntheticPair:
    """Person `index` of `split` and their garment; the same arguments always draw the same pair."""
    rng = np.random.default_rng([seed, zlib.crc32(split.encode()), index])
    height, width = size
    cloth, cloth_mask, marks = _garment(rng, size)

    # Flat garment -> person: x' = M (x - cloth centre) + torso centre.
    scale = rng.uniform(0.55, 0.68)
    matrix = scale * np.array([[rng.uniform(0.92, 1.08), rng.uniform(-0.08, 0.08)], [0.0, 1.0]])
    centre = np.array([width * (0.5 + rng.uniform(-0.06, 0.06)), height * (0.46 + rng.uniform(-0.03, 0.03))])
    cloth_centre = np.array([width / 2, height / 2])
    inverse = np.linalg.inv(matrix)
    offset = cloth_centre - inverse @ centre
    affine = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])  # person -> cloth
    worn = cloth.transform((width, height), Image.Transform.AFFINE, affine, Image.Resampling.BILINEAR,
                           fillcolor=(255, 255, 255))
    worn_mask = np.asarray(cloth_mask.transform((width, height), Image.Transform.AFFINE, affine,
                                                Image.Resampling.BILINEAR)) >= 128
    at = {name: matrix @ (np.array(point) - cloth_centre) + centre for name, point in marks.items()}

    # The figure, drawn as labels back to front; the garment goes on last.
    labels = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(labels)
    unit, shorts = width / 96, rng.random() < 0.5  # unit: one pixel at the default size
    points = {}
    sides = ((-1, at["right_hip"], RIGHT_LEG, RIGHT_SHOE), (1, at["left_hip"], LEFT_LEG, LEFT_SHOE))
    for sign, hip, leg, shoe in sides:  # the person's right is the picture's left
        half, top = width * 0.055, hip[1] - 4 * unit  # legs start under the garment's hem
        ankle = np.array([hip[0] + sign * width * 0.02, height * 0.93])
        knee = (hip + ankle) / 2
        draw.polygon([(hip[0] - half, top), (hip[0] + half, top), (ankle[0] + half * 0.7, ankle[1]),
                      (ankle[0] - half * 0.7, ankle[1])], fill=leg)
        end = knee if shorts else ankle
        draw.polygon([(hip[0] - half - unit, top), (hip[0] + half + unit, top), (end[0] + half, end[1]),
                      (end[0] - half, end[1])], fill=PANTS)
        toe = ankle[0] + sign * 2 * unit
        draw.ellipse([toe - half * 1.2, ankle[1] - 2 * unit, toe + half * 1.2, ankle[1] + height * 0.04], fill=shoe)
        points[sign] = {"hip": hip, "knee": knee, "ankle": ankle}
    for sign, shoulder, arm in ((-1, at["right_shoulder"], RIGHT_ARM), (1, at["left_shoulder"], LEFT_ARM)):
        elbow = shoulder + np.array([sign * width * 0.05, height * 0.17])
        wrist = elbow + np.array([sign * width * 0.02, height * 0.15])
        draw.line([tuple(shoulder), tuple(elbow), tuple(wrist)], fill=arm, width=max(3, round(width * 0.07)),
                  joint="curve")
        points[sign].update(shoulder=shoulder, elbow=elbow, wrist=wrist)
    collar = at["collar"]
    face = collar - np.array([0, height * 0.12])
    rx, ry = width * 0.085, height * 0.08
    draw.rectangle([collar[0] - width * 0.04, face[1], collar[0] + width * 0.04, collar[1] + height * 0.08], fill=NECK)
    draw.ellipse([face[0] - rx * 1.1, face[1] - ry * 1.25, face[0] + rx * 1.1, face[1] + ry * 0.4], fill=HAIR)
    draw.ellipse([face[0] - rx, face[1] - ry * 0.8, face[0] + rx, face[1] + ry], fill=FACE)
    parse = np.asarray(labels).copy()
    parse[worn_mask] = UPPER_CLOTHES

    colours = np.zeros((len(LABELS), 3), np.uint8)
    colours[0] = rng.integers(195, 245, 3)
    colours[[FACE, NECK, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG]] = _SKIN[rng.integers(len(_SKIN))]
    colours[HAIR] = _HAIR[rng.integers(len(_HAIR))]
    colours[PANTS] = rng.integers(20, 120, 3)
    colours[[LEFT_SHOE, RIGHT_SHOE]] = rng.integers(10, 60, 3)
    person = np.where(worn_mask[..., None], np.asarray(worn), colours[parse])

    eye, ear = np.array([width * 0.03, -height * 0.01]), np.array([width * 0.08, 0])
    right, left = points[-1], points[1]

    def foot(ankle: np.ndarray, sign: int) -> list[np.ndarray]:  # big toe, small toe, heel
        return [ankle + unit * np.array([3 * sign, 5]), ankle + unit * np.array([5 * sign, 4]), ankle + [0, 3 * unit]]

    body_25 = [face, collar, right["shoulder"], right["elbow"], right["wrist"], left["shoulder"], left["elbow"],
               left["wrist"], (right["hip"] + left["hip"]) / 2, right["hip"], right["knee"], right["ankle"],
               left["hip"], left["knee"], left["ankle"], face + eye * [-1, 1], face + eye, face - ear, face + ear,
               *foot(left["ankle"], 1), *foot(right["ankle"], -1)]
    keypoints = np.concatenate([np.array(body_25, np.float32), rng.uniform(0.7, 0.95, (25, 1))], 1).astype(np.float32)

    # A coarser mask than the parse's, as released agnostic masks are.
    agnostic_mask = garment_mask(parse, "upper", dilation=max(2, round(max(size) / 32)))
    agnostic = Image.fromarray(person)
    agnostic.paste((128, 128, 128), mask=agnostic_mask)
    return SyntheticPair(Image.fromarray(person), parse, keypoints, cloth, cloth_mask, agnostic, agnostic_mask)


def write_synthetic_viton(root: Path | str, n_pairs: int = 8, size: tuple[int, int] = (128, 96), seed: int = 0,
                          splits: Sequence[str] = ("train", "test")) -> Path:
    """Write `n_pairs` people per split under `root`; returns root. Pair lists: train pairs each person with
    their own garment, test with the next person's (VITON-HD's unpaired test protocol)."""
    root = Path(root)
    for split in splits:
        folder = root / split
        for name in ("image", "cloth", "cloth-mask", "image-parse-v3", "openpose_json", "agnostic-v3.2",
                     "agnostic-mask"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        names = [f"{index:05d}_00.jpg" for index in range(n_pairs)]
        for index, name in enumerate(names):
            pair, stem = synthetic_pair(index, size, seed, split), Path(name).stem
            pair.person.save(folder / "image" / name, quality=95)
            pair.cloth.save(folder / "cloth" / name, quality=95)
            pair.cloth_mask.save(folder / "cloth-mask" / name, quality=95)
            parse = Image.frombytes("P", size[::-1], pair.parse.tobytes())  # the ids are the palette indices
            parse.putpalette([value for colour in PALETTE for value in colour])
            parse.save(folder / "image-parse-v3" / f"{stem}.png")
            people = [{"person_id": [-1], "pose_keypoints_2d": [round(float(v), 3) for v in pair.keypoints.flat]}]
            (folder / "openpose_json" / f"{stem}_keypoints.json").write_text(json.dumps({"version": 1.3,
                                                                                          "people": people}))
            pair.agnostic.save(folder / "agnostic-v3.2" / name, quality=95)
            pair.agnostic_mask.save(folder / "agnostic-mask" / f"{stem}_mask.png")
        partners = names if split == "train" else names[1:] + names[:1]
        (root / f"{split}_pairs.txt").write_text("".join(f"{p} {c}\n" for p, c in zip(names, partners)))
    return root
