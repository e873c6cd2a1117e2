"""The tiny human parser exported to ONNX, and HumanParser over it against transformers and PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from transformers import SegformerImageProcessor

from atelier.config import AtelierError
from atelier.diffusion.networks import OnnxNetworks
from atelier.diffusion.parsing import MODEL, HumanParser, load_human_parser_if_exported
from export.diffusion import PARITY_TOLERANCE
from export.human_parser import ATR_LABELS, export_human_parser, load_human_parser
from models.clip import weights_sha256

pytestmark = pytest.mark.integration
# By label name, independently of atelier.diffusion.parsing: what a try-on of each garment type repaints.
REPAINTED = {
    "upper": {"Upper-clothes", "Dress", "Left-arm", "Right-arm"},
    "lower": {"Skirt", "Pants", "Belt", "Left-leg", "Right-leg"},
    "overall": {"Upper-clothes", "Dress", "Left-arm", "Right-arm", "Skirt", "Pants", "Belt", "Left-leg", "Right-leg"},
}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = tmp_path_factory.mktemp("parser") / "model_repository"
    export_human_parser(repository, "tiny")
    return repository


@pytest.fixture(scope="module")
def person() -> Image.Image:
    """A figure on a studio backdrop (96x128, portrait like the VITON-HD photos), as in test_tryon."""
    image = Image.new("RGB", (96, 128), (226, 220, 210))
    draw = ImageDraw.Draw(image)
    draw.ellipse((38, 6, 58, 28), fill=(205, 160, 130))
    draw.rectangle((30, 30, 66, 78), fill=(40, 60, 150))
    draw.rectangle((34, 78, 62, 124), fill=(50, 50, 50))
    return image


def test_the_export_writes_a_served_model_and_its_spec_and_can_be_redone(repository: Path) -> None:
    spec = json.loads((repository / MODEL / "1" / "parser.json").read_text())
    assert spec["onnx_vs_torch_max_abs"] < PARITY_TOLERANCE
    assert spec["labels"] == list(ATR_LABELS) and spec["build"] == {"profile": "tiny", "source": None}
    processor = SegformerImageProcessor()  # the installed transformers' defaults, which the tiny profile takes
    assert spec["preprocess"] == {"height": 512, "width": 512, "resample": "bilinear",
                                  "rescale_factor": processor.rescale_factor, "image_mean": list(processor.image_mean),
                                  "image_std": list(processor.image_std)}
    config = (repository / MODEL / "config.pbtxt").read_text()
    assert f'name: "{MODEL}"' in config and 'backend: "onnxruntime"' in config and "dims: [ -1, 18, -1, -1 ]" in config
    again = export_human_parser(repository, "tiny")  # _export_one empties the version folder first
    assert again == spec
    assert sorted(path.name for path in (repository / MODEL / "1").iterdir()) == ["model.onnx", "parser.json"]


def test_the_onnx_parser_takes_any_size_and_gives_logits_at_a_quarter(repository: Path) -> None:
    model, _ = load_human_parser("tiny")
    session = ort.InferenceSession(str(repository / MODEL / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    pixels = torch.randn(3, 3, 131, 97, generator=torch.Generator().manual_seed(1))
    (got,) = session.run(["logits"], {"pixel_values": pixels.numpy()})
    with torch.no_grad():
        expected = model(pixel_values=pixels).logits.numpy()
    assert got.shape == expected.shape == (3, 18, 33, 25)
    assert np.abs(got - expected).max() < PARITY_TOLERANCE


def test_the_mask_from_onnx_equals_the_one_from_transformers_and_pytorch(repository: Path, person) -> None:
    parser = load_human_parser_if_exported(repository, OnnxNetworks(repository))
    assert isinstance(parser, HumanParser)
    model, _ = load_human_parser("tiny")
    # The reference: the processor and model as the model card runs them, then the labels by name, dilated.
    pixel_values = SegformerImageProcessor()(images=person, return_tensors="pt").pixel_values
    np.testing.assert_allclose(parser.preprocess(person), pixel_values.numpy(), atol=1e-5)
    with torch.no_grad():
        logits = model(pixel_values=pixel_values).logits
    upsampled = F.interpolate(logits, size=person.size[::-1], mode="bilinear", align_corners=False)
    labels = upsampled.argmax(dim=1)[0]
    # The smallest top-two margin on this photo is ~3e-7, ONNX Runtime's error on these logits ~2e-8.
    np.testing.assert_array_equal(parser.labels(person), labels.numpy())
    radius = max(1, round(max(person.size) / 64))
    for garment_type, names in REPAINTED.items():
        ids = torch.tensor([i for i, name in model.config.id2label.items() if name in names])
        area = torch.isin(labels, ids).float()[None, None]
        expected = F.max_pool2d(area, 2 * radius + 1, stride=1, padding=radius)[0, 0].numpy().astype(np.uint8) * 255
        mask = parser(person, garment_type)
        assert mask.mode == "L" and mask.size == person.size
        assert 0 < expected.mean() < 255, f"{garment_type}: the tiny parser should find some but not all of it"
        np.testing.assert_array_equal(np.asarray(mask), expected, err_msg=garment_type)


def test_a_checkpoint_folder_is_exported_with_its_own_preprocessing_and_a_missing_one_refused(tmp_path: Path) -> None:
    model, _ = load_human_parser("tiny")
    checkpoint = tmp_path / "checkpoint"  # stands in for the published one: the same from_pretrained path
    model.save_pretrained(checkpoint)
    SegformerImageProcessor(size={"height": 64, "width": 48}).save_pretrained(checkpoint)
    record = export_human_parser(tmp_path / "model_repository", "full", str(checkpoint))
    assert record["weights_sha256"] == weights_sha256(model) and record["source"] == str(checkpoint)
    assert (record["preprocess"]["height"], record["preprocess"]["width"]) == (64, 48)
    assert record["licence"] == f"unknown: see the model card of {checkpoint}"
    with pytest.raises(AtelierError, match="could not load the human parser from"):
        load_human_parser("full", str(tmp_path / "missing"))


def test_no_parser_where_none_was_exported(tmp_path: Path) -> None:
    assert load_human_parser_if_exported(tmp_path, OnnxNetworks(tmp_path)) is None
