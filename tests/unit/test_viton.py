"""The VITON-HD reader on a synthetic set in that layout, good and broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from atelier.config import AtelierError
from training.viton import (
    FACE,
    LEFT_ARM,
    LEFT_LEG,
    NECK,
    PANTS,
    RIGHT_ARM,
    UPPER_CLOTHES,
    VitonDataset,
    garment_mask,
    inpainting_mask,
)
from training.viton_synthetic import synthetic_pair, write_synthetic_viton

N_PAIRS = 6


@pytest.fixture(scope="module")
def viton_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_viton(tmp_path_factory.mktemp("viton"), n_pairs=N_PAIRS, size=(128, 96), seed=3)


@pytest.fixture
def broken_root(viton_root: Path, tmp_path: Path) -> Path:
    """A copy of the set for a test to damage."""
    return Path(shutil.copytree(viton_root, tmp_path / "viton"))


def test_pairs_sizes_and_modes(viton_root):
    dataset = VitonDataset(viton_root, "train", size=(64, 48))
    assert len(dataset) == N_PAIRS
    pair = dataset[2]
    assert pair.person_name == pair.cloth_name == "00002_00.jpg"
    assert pair.person.mode == pair.cloth.mode == "RGB"
    assert pair.person.size == pair.cloth.size == pair.cloth_mask.size == pair.agnostic.size == (48, 64)
    assert pair.parse.shape == (64, 48) and pair.parse.dtype == np.uint8
    for mask in (pair.cloth_mask, pair.agnostic_mask):
        assert mask.mode == "L" and set(np.unique(np.asarray(mask))) == {0, 255}
    # Keypoints follow the resize: the synthetic figure's were drawn at 128x96, the reader's are at 64x48.
    drawn = synthetic_pair(2, (128, 96), seed=3, split="train").keypoints
    assert pair.keypoints.shape == (25, 3)
    np.testing.assert_allclose(pair.keypoints[:, :2], drawn[:, :2] / 2, atol=1e-3)
    np.testing.assert_allclose(pair.keypoints[:, 2], drawn[:, 2], atol=1e-3)


def test_parse_is_read_as_label_ids_not_luminance(viton_root):
    pair = VitonDataset(viton_root, "test", size=(128, 96))[4]
    drawn = synthetic_pair(4, (128, 96), seed=3, split="test").parse
    np.testing.assert_array_equal(pair.parse, drawn)
    assert {UPPER_CLOTHES, FACE, PANTS, LEFT_ARM} <= set(np.unique(pair.parse).tolist())
    luminance = np.asarray(Image.open(viton_root / "test" / "image-parse-v3" / "00004_00.png").convert("L"))
    assert not np.array_equal(luminance, drawn)
    assert set(np.unique(luminance[drawn == UPPER_CLOTHES]).tolist()) != {UPPER_CLOTHES}
    assert luminance[drawn == FACE].mean() < luminance[drawn == UPPER_CLOTHES].mean()  # face 13 reads darker than 5


def test_garment_masks_cover_their_labels_and_stay_off_the_rest(viton_root):
    parse = VitonDataset(viton_root, "train", size=(128, 96))[0].parse
    masks = {kind: np.asarray(garment_mask(parse, kind)) > 0 for kind in ("upper", "lower", "overall")}
    undilated = {kind: np.asarray(garment_mask(parse, kind, dilation=0)) > 0 for kind in masks}
    assert undilated["upper"].sum() == np.isin(parse, (UPPER_CLOTHES, NECK, LEFT_ARM, RIGHT_ARM)).sum()
    assert masks["upper"].sum() > undilated["upper"].sum()  # dilated a little
    assert masks["upper"][np.isin(parse, (UPPER_CLOTHES, NECK, LEFT_ARM, RIGHT_ARM))].all()
    assert masks["lower"][np.isin(parse, (PANTS, LEFT_LEG))].all()
    assert not masks["lower"][parse == FACE].any()
    face_rows = np.nonzero((parse == FACE).any(1))[0]
    assert not masks["upper"][face_rows[0] : face_rows[len(face_rows) // 2]].any()  # the top of the head stays
    lower_only = undilated["lower"] & ~masks["upper"]
    assert lower_only.sum() > 100  # the trousers below the top are the lower mask's alone
    assert (masks["overall"] >= (masks["upper"] | masks["lower"])).all()
    with pytest.raises(AtelierError, match="garment type"):
        garment_mask(parse, "shoes")


def test_inpainting_mask_prefers_the_agnostic_mask_file(viton_root, broken_root):
    pair = VitonDataset(viton_root, "train", size=(128, 96))[1]
    stored = np.asarray(Image.open(viton_root / "train" / "agnostic-mask" / "00001_00_mask.png"))
    np.testing.assert_array_equal(np.asarray(inpainting_mask(pair, "upper")), stored)
    assert not np.array_equal(stored, np.asarray(garment_mask(pair.parse, "upper")))
    shutil.rmtree(broken_root / "train" / "agnostic-mask")
    without = VitonDataset(broken_root, "train", size=(128, 96))[1]
    assert without.agnostic_mask is None
    np.testing.assert_array_equal(np.asarray(inpainting_mask(without, "lower")),
                                  np.asarray(garment_mask(without.parse, "lower")))


def test_paired_and_unpaired_cloth(viton_root):
    pairs = (viton_root / "test_pairs.txt").read_text().split()
    paired, unpaired = (VitonDataset(viton_root, "test", size=(128, 96), paired=p)[0] for p in (True, False))
    assert paired.person_name == unpaired.person_name == pairs[0]
    assert paired.cloth_name == pairs[0] and unpaired.cloth_name == pairs[1] != pairs[0]
    for pair in (paired, unpaired):
        on_disk = np.asarray(Image.open(viton_root / "test" / "cloth" / pair.cloth_name).convert("RGB"))
        np.testing.assert_array_equal(np.asarray(pair.cloth), on_disk)
    assert not np.array_equal(np.asarray(paired.cloth), np.asarray(unpaired.cloth))


def _fails_naming(root: Path, name: str, match: str | None = None) -> None:
    with pytest.raises(AtelierError, match=match) as raised:
        VitonDataset(root, "train", size=(128, 96))[0]
    assert name in str(raised.value)


def test_missing_file_is_named(broken_root):
    (broken_root / "train" / "cloth" / "00000_00.jpg").unlink()
    _fails_naming(broken_root, str(broken_root / "train" / "cloth" / "00000_00.jpg"), "not found")


def test_corrupt_image_is_named(broken_root):
    (broken_root / "train" / "image" / "00000_00.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    _fails_naming(broken_root, "00000_00.jpg", "not a readable image")


def test_truncated_image_is_named(broken_root):
    path = broken_root / "train" / "cloth-mask" / "00000_00.jpg"
    path.write_bytes(path.read_bytes()[:200])
    _fails_naming(broken_root, str(path), "not a readable image")


def test_parse_that_is_not_a_palette_png_is_named(broken_root):
    path = broken_root / "train" / "image-parse-v3" / "00000_00.png"
    Image.open(path).convert("RGB").save(path)
    _fails_naming(broken_root, str(path), "palette")


def test_parse_with_unknown_ids_is_named(broken_root):
    path = broken_root / "train" / "image-parse-v3" / "00000_00.png"
    parse = Image.open(path)
    parse.putpixel((0, 0), 42)
    parse.save(path)
    _fails_naming(broken_root, str(path), "label id 42")


@pytest.mark.parametrize("content", ["{not json", json.dumps({"version": 1.3}),
                                     json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0]}]})])
def test_malformed_keypoints_are_named(broken_root, content):
    path = broken_root / "train" / "openpose_json" / "00000_00_keypoints.json"
    path.write_text(content)
    _fails_naming(broken_root, str(path))


def test_no_person_detected_reads_as_zero_confidence(broken_root):
    (broken_root / "train" / "openpose_json" / "00000_00_keypoints.json").write_text(json.dumps({"people": []}))
    keypoints = VitonDataset(broken_root, "train", size=(128, 96))[0].keypoints
    assert keypoints.shape == (18, 3) and not keypoints.any()


def test_bad_pair_list_and_missing_split(broken_root):
    (broken_root / "train_pairs.txt").write_text("00000_00.jpg 00000_00.jpg\n00001_00.jpg\n")
    with pytest.raises(AtelierError, match=r"train_pairs.txt:2"):
        VitonDataset(broken_root, "train")
    with pytest.raises(AtelierError, match="split folder"):
        VitonDataset(broken_root, "val")
    (broken_root / "test_pairs.txt").unlink()
    with pytest.raises(AtelierError, match="test_pairs.txt"):
        VitonDataset(broken_root, "test")


def test_synthetic_set_is_deterministic(viton_root, tmp_path):
    again = write_synthetic_viton(tmp_path / "again", n_pairs=N_PAIRS, size=(128, 96), seed=3)
    for relative in ("train/image/00003_00.jpg", "test/image-parse-v3/00001_00.png", "test_pairs.txt",
                     "train/openpose_json/00000_00_keypoints.json"):
        assert (again / relative).read_bytes() == (viton_root / relative).read_bytes()
    other = synthetic_pair(3, (128, 96), seed=4, split="train").parse
    assert not np.array_equal(other, synthetic_pair(3, (128, 96), seed=3, split="train").parse)
