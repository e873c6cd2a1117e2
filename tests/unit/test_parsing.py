"""HumanParser's logic over a stand-in network that returns hand-made logits: labels to masks, sizes, dilation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from atelier.config import AtelierError
from atelier.diffusion.parsing import MODEL, HumanParser, load_human_parser_if_exported
from atelier.diffusion.pipelines.tryon import tryon_request
from atelier.images import png_bytes

ATR = ("Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt", "Left-shoe",
       "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf")
REPAINTED = {
    "upper": {"Upper-clothes", "Dress", "Left-arm", "Right-arm"},
    "lower": {"Skirt", "Pants", "Belt", "Left-leg", "Right-leg"},
    "overall": {"Upper-clothes", "Dress", "Left-arm", "Right-arm", "Skirt", "Pants", "Belt", "Left-leg", "Right-leg"},
}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
SPEC = {"labels": list(ATR), "preprocess": {"height": 32, "width": 24, "resample": "bilinear",
                                            "rescale_factor": 1 / 255, "image_mean": MEAN, "image_std": STD}}


class FakeParser:
    """The `Networks` call for tryon_parser: returns `logits` whatever the photo, and keeps what it was sent."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits.astype(np.float32)
        self.calls: list[tuple[str, dict, list]] = []

    def __call__(self, model: str, inputs: dict[str, np.ndarray], outputs) -> list[np.ndarray]:
        self.calls.append((model, inputs, list(outputs)))
        return [self.logits]


def one_label(name: str, height: int = 8, width: int = 6) -> np.ndarray:
    logits = np.zeros((1, len(ATR), height, width), np.float32)
    logits[0, ATR.index(name)] = 5.0
    return logits


def split(left: str, right: str, left_columns: int, width: int = 4) -> np.ndarray:
    """Logits at 1/4 resolution: `left` in the first `left_columns` columns, `right` in the rest."""
    logits = np.zeros((1, len(ATR), 4, width), np.float32)
    logits[0, ATR.index(left), :, :left_columns] = 1.0
    logits[0, ATR.index(right), :, left_columns:] = 1.0
    return logits


def person(size: tuple[int, int] = (48, 64), colour=(120, 80, 200)) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.mark.parametrize("garment_type", ["upper", "lower", "overall"])
def test_each_label_is_repainted_or_kept_by_garment_type(garment_type: str) -> None:
    for name in ATR:
        mask = HumanParser(FakeParser(one_label(name)), SPEC)(person(), garment_type)
        assert mask.mode == "L" and mask.size == (48, 64)
        expected = 255 if name in REPAINTED[garment_type] else 0
        assert mask.getextrema() == (expected, expected), (name, garment_type)


def test_the_network_gets_the_normalised_photo_at_the_specs_size_whatever_its_mode() -> None:
    network = FakeParser(one_label("Pants"))
    parser = HumanParser(network, SPEC)
    parser(person(colour=(255, 0, 51)), "lower")
    parser(Image.new("RGBA", (40, 30), (255, 0, 51, 7)), "lower")
    for model, inputs, outputs in network.calls:
        assert model == MODEL and outputs == ["logits"] and list(inputs) == ["pixel_values"]
        pixels = inputs["pixel_values"]
        assert pixels.shape == (1, 3, 32, 24) and pixels.dtype == np.float32  # height, width as the spec says
        expected = (np.array([255, 0, 51]) / 255 - MEAN) / STD  # a plain colour survives the resize exactly
        np.testing.assert_allclose(pixels[0].reshape(3, -1), np.repeat(expected[:, None], 32 * 24, 1), atol=1e-5)


@pytest.mark.parametrize("width, height", [(37, 23), (101, 77), (640, 480)])
def test_logits_are_upsampled_to_odd_photo_sizes_and_the_mask_is_dilated(width: int, height: int) -> None:
    # Upper-clothes in the first three of four columns: bilinearly, it wins up to 3/4 of the width
    # (column index < 0.75 * width - 0.5); dilated by 1/64 of the longer side, at least 1 pixel.
    parser = HumanParser(FakeParser(split("Upper-clothes", "Background", 3)), SPEC)
    mask = np.asarray(parser(person((width, height)), "upper"))
    assert mask.shape == (height, width)
    radius = max(1, round(max(width, height) / 64))
    columns = int(np.floor(0.75 * width - 0.5)) + 1 + radius
    expected = np.zeros((height, width), np.uint8)
    expected[:, :columns] = 255
    np.testing.assert_array_equal(mask, expected)


def test_dilation_grows_the_area_by_one_pixel_in_every_direction_at_this_size() -> None:
    logits = one_label("Background", 8, 8)
    logits[0, ATR.index("Skirt"), 3:5, 3:5] = 10.0  # a 2x2 block in the middle: about 8x8 of 32x32
    parser = HumanParser(FakeParser(logits), SPEC)
    area = parser.labels(person((32, 32))) == ATR.index("Skirt")
    assert 0 < area.sum() < 100 and not area[0].any() and not area[-1].any()  # well inside: np.roll cannot wrap
    grown = np.zeros_like(area)
    for dy in (-1, 0, 1):  # radius 1: max(1, round(32 / 64))
        for dx in (-1, 0, 1):
            grown |= np.roll(area, (dy, dx), axis=(0, 1))
    np.testing.assert_array_equal(np.asarray(parser(person((32, 32)), "lower")), grown.astype(np.uint8) * 255)


def test_nothing_to_repaint_gives_an_empty_mask_that_the_request_refuses() -> None:
    parser = HumanParser(FakeParser(split("Face", "Bag", 2)), SPEC)
    mask = parser(person(), "upper")
    assert mask.size == (48, 64) and mask.getextrema() == (0, 0)
    values = {"person": png_bytes(person((64, 64))), "garment": png_bytes(person((64, 64))), "garment_type": "upper"}
    with pytest.raises(ValueError, match="the mask is empty"):
        tryon_request(values, {"steps": 4, "guidance_scale": 2.5}, 512, parser)


def test_a_request_without_a_mask_gets_the_parsers() -> None:
    parser = HumanParser(FakeParser(split("Pants", "Scarf", 2)), SPEC)
    values = {"person": png_bytes(person((64, 80))), "garment": png_bytes(person((64, 64))), "garment_type": "lower"}
    request = tryon_request(values, {"steps": 4, "guidance_scale": 2.5}, 512, parser)
    assert request.garment_type == "lower"
    np.testing.assert_array_equal(np.asarray(request.mask), np.asarray(parser(request.person, "lower")))
    assert 0 < np.asarray(request.mask).mean() < 255


def test_unknown_garment_type_and_a_parser_without_the_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="garment_type must be one of upper, lower, overall"):
        HumanParser(FakeParser(one_label("Pants")), SPEC)(person(), "shoes")
    labels = [name for name in ATR if name != "Belt"]
    with pytest.raises(AtelierError, match="no Belt label"):
        HumanParser(FakeParser(one_label("Pants")), {**SPEC, "labels": labels})


def test_the_parser_is_loaded_only_where_it_was_exported(tmp_path: Path) -> None:
    network = FakeParser(one_label("Pants"))
    assert load_human_parser_if_exported(tmp_path, network) is None
    (tmp_path / MODEL / "1").mkdir(parents=True)
    (tmp_path / MODEL / "1" / "parser.json").write_text(json.dumps(SPEC))
    parser = load_human_parser_if_exported(tmp_path, network)
    assert isinstance(parser, HumanParser) and parser(person(), "lower").getextrema() == (255, 255)
