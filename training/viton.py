"""A reader for try-on data in VITON-HD's folder layout.

    {root}/{split}_pairs.txt            "person.jpg cloth.jpg" per line
    {root}/{split}/image/               the people (RGB)
    {root}/{split}/cloth/               the flat garments (RGB on white); a person's own garment has its name
    {root}/{split}/cloth-mask/          the garments' masks
    {root}/{split}/image-parse-v3/      {stem}.png, palette PNGs whose palette indices are the label ids below
    {root}/{split}/openpose_json/       {stem}_keypoints.json (OpenPose, 18 or 25 body points)
    {root}/{split}/agnostic-v3.2/       optional: the people with the try-on area greyed out
    {root}/{split}/agnostic-mask/       optional: {stem}_mask.png, that area (CatVTON's VITON-HD release has it)

An optional folder that is present must have a file for every person. Everything comes back at `size`:
images as PIL RGB, masks as PIL "L" 0/255, the parse as uint8 label ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from atelier.config import AtelierError

# image-parse-v3's label ids (VITON-HD, LIP's classes)
BACKGROUND, HAT, HAIR, GLOVE, SUNGLASSES, UPPER_CLOTHES, DRESS, COAT, SOCKS, PANTS = range(10)
NECK, SCARF, SKIRT, FACE, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE = range(10, 20)
LABELS = ("background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat", "socks", "pants",
          "neck", "scarf", "skirt", "face", "left-arm", "right-arm", "left-leg", "right-leg", "left-shoe", "right-shoe")

UPPER_GARMENT = (UPPER_CLOTHES, DRESS, COAT)  # VITON-HD's "upper" parse group: what a top replaces
# What a try-on of each garment type repaints. The neck (bare skin at the neckline) is in: a new neckline shows
# more or less of it. The arms and legs are in: sleeves and trouser legs of another length uncover or cover them.
GARMENT_LABELS = {
    "upper": (*UPPER_GARMENT, NECK, LEFT_ARM, RIGHT_ARM),
    "lower": (PANTS, SKIRT, LEFT_LEG, RIGHT_LEG),
    "overall": (*UPPER_GARMENT, NECK, PANTS, SKIRT, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG),
}


@dataclass
class VitonPair:
    person: Image.Image  # RGB
    cloth: Image.Image  # RGB, the garment to put on
    cloth_mask: Image.Image  # "L", 0/255
    parse: np.ndarray  # (H, W) uint8 label ids of the person
    keypoints: np.ndarray  # (18 or 25, 3) float32: x, y in pixels at `size`, confidence (0: not detected)
    person_name: str
    cloth_name: str
    agnostic: Image.Image | None = None  # RGB, agnostic-v3.2 when the split has it
    agnostic_mask: Image.Image | None = None  # "L" 0/255, agnostic-mask when the split has it


def _read_image(path: Path) -> Image.Image:
    """The decoded image as stored (mode untouched); AtelierError naming the file if it is missing or unreadable."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError:
        raise AtelierError(f"{path}: file not found") from None
    except (OSError, SyntaxError, ValueError) as error:  # PIL's errors for unknown formats and truncated data
        raise AtelierError(f"{path}: not a readable image ({error})") from error


def _rgb(path: Path, size: tuple[int, int]) -> Image.Image:
    return _read_image(path).convert("RGB").resize(size[::-1], Image.Resampling.BICUBIC)


def _mask(path: Path, size: tuple[int, int]) -> Image.Image:
    """0/255 at `size`: stored masks can be JPEGs (VITON-HD's cloth-mask) with values in between."""
    grey = _read_image(path).convert("L").resize(size[::-1], Image.Resampling.BILINEAR)
    return grey.point(lambda value: 255 if value >= 128 else 0)


def _parse(path: Path, size: tuple[int, int]) -> np.ndarray:
    image = _read_image(path)
    if image.mode != "P":
        raise AtelierError(f"{path}: a parse map must be a palette ('P' mode) PNG of label ids, not {image.mode!r}")
    ids = np.asarray(image.resize(size[::-1], Image.Resampling.NEAREST))  # palette indices, not colours
    if ids.max() >= len(LABELS):
        raise AtelierError(f"{path}: label id {ids.max()} is not one of image-parse-v3's 0-{len(LABELS) - 1}")
    return ids.astype(np.uint8)


def _keypoints(path: Path, scale: tuple[float, float]) -> np.ndarray:
    """OpenPose's first person; no person detected reads as 18 points of confidence 0 (OpenPose's convention)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AtelierError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AtelierError(f"{path}: not JSON ({error})") from error
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise AtelierError(f"{path}: no 'people' list, not an OpenPose keypoints file")
    if not people:
        return np.zeros((18, 3), np.float32)
    flat = people[0].get("pose_keypoints_2d") if isinstance(people[0], dict) else None
    try:
        points = np.asarray(flat, dtype=np.float32)
    except (TypeError, ValueError):
        points = np.zeros(0, np.float32)
    if points.ndim != 1 or len(points) not in (18 * 3, 25 * 3):
        raise AtelierError(f"{path}: pose_keypoints_2d must list x, y, confidence of 18 or 25 points")
    points = points.reshape(-1, 3).copy()
    points[:, :2] *= scale
    return points


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise AtelierError(f"{path}: pair list not found") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        names = line.split()
        if len(names) != 2:
            raise AtelierError(f"{path}:{number}: expected 'person.jpg cloth.jpg', got {line!r}")
        pairs.append((names[0], names[1]))
    return pairs


class VitonDataset(Dataset):
    """VITON-HD pairs of one split. Paired: each person with their own garment (the cloth file of the same name),
    as in training and VITON-HD's paired test; unpaired: with the pair list's garment."""

    def __init__(self, root: Path | str, split: str = "train", size: tuple[int, int] = (1024, 768),
                 paired: bool = True) -> None:
        self.root, self.split, self.size, self.paired = Path(root), split, tuple(size), paired
        self.folder = self.root / split
        if not self.folder.is_dir():
            raise AtelierError(f"{self.folder}: no such split folder")
        self.pairs = _read_pairs(self.root / f"{split}_pairs.txt")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> VitonPair:
        person_name, listed_cloth = self.pairs[index]
        cloth_name = person_name if self.paired else listed_cloth
        stem, folder, size = Path(person_name).stem, self.folder, self.size
        stored = _read_image(folder / "image" / person_name)
        scale = (size[1] / stored.width, size[0] / stored.height)
        agnostic_dir, agnostic_mask_dir = folder / "agnostic-v3.2", folder / "agnostic-mask"
        return VitonPair(
            person=stored.convert("RGB").resize(size[::-1], Image.Resampling.BICUBIC),
            cloth=_rgb(folder / "cloth" / cloth_name, size),
            cloth_mask=_mask(folder / "cloth-mask" / cloth_name, size),
            parse=_parse(folder / "image-parse-v3" / f"{stem}.png", size),
            keypoints=_keypoints(folder / "openpose_json" / f"{stem}_keypoints.json", scale),
            person_name=person_name,
            cloth_name=cloth_name,
            agnostic=_rgb(agnostic_dir / person_name, size) if agnostic_dir.is_dir() else None,
            agnostic_mask=_mask(agnostic_mask_dir / f"{stem}_mask.png", size) if agnostic_mask_dir.is_dir() else None,
        )


def to_tensor(image: Image.Image) -> torch.Tensor:
    """What the training loops feed their networks: RGB -> [3, H, W] in [-1, 1]; "L" -> [1, H, W] in [0, 1]."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        return torch.from_numpy(array / 255)[None]
    return torch.from_numpy(array / 127.5 - 1).permute(2, 0, 1)


def _check_type(garment_type: str) -> None:
    if garment_type not in GARMENT_LABELS:
        raise AtelierError(f"garment type {garment_type!r}: expected one of {', '.join(GARMENT_LABELS)}")


def garment_mask(parse: np.ndarray, garment_type: str, dilation: int | None = None) -> Image.Image:
    """The area a try-on of `garment_type` ("upper", "lower", "overall") repaints, from a parse map, as "L" 0/255.

    Dilated by `dilation` px (default 1/64 of the longer side): parsers miss a garment's fringe, and an
    inpainting mask that leaves the old garment's outline behind makes the new one copy it.
    """
    _check_type(garment_type)
    radius = max(1, round(max(parse.shape) / 64)) if dilation is None else dilation
    mask = torch.from_numpy(np.isin(parse, GARMENT_LABELS[garment_type])).float()[None, None]
    if radius > 0:
        mask = F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius)
    return Image.fromarray((mask[0, 0].numpy() * 255).astype(np.uint8))


def inpainting_mask(pair: VitonPair, garment_type: str) -> Image.Image:
    """The dataset's own agnostic mask when it has one, else garment_mask from the parse.

    The stored masks are whatever the release drew (CatVTON's VITON-HD masks are upper-body ones), so the
    garment type only picks the parse's labels when there is no file.
    """
    _check_type(garment_type)
    return pair.agnostic_mask if pair.agnostic_mask is not None else garment_mask(pair.parse, garment_type)
