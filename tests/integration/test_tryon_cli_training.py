"""The try-on training commands as a user runs them, and a trained warping module pre-warping `tryon`'s garments."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from atelier.diffusion.networks import OnnxNetworks
from atelier.diffusion.pipelines import load_pipeline
from atelier.images import png_bytes
from models.warping import build_gmm
from training.viton import VitonDataset, inpainting_mask
from training.viton_synthetic import write_synthetic_viton

pytestmark = pytest.mark.integration


def atelier(*args: str, home: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "ATELIER_HOME": str(home), "ATELIER_PROFILE": "tiny"})
    assert result.returncode == 0, result.stderr
    return result


class Recording(OnnxNetworks):
    """OnnxNetworks that keeps the inputs of every call."""

    def __init__(self, repository: Path) -> None:
        super().__init__(repository)
        self.calls: list[tuple[str, dict[str, np.ndarray]]] = []

    def __call__(self, model, inputs, outputs):
        self.calls.append((model, inputs))
        return super().__call__(model, inputs, outputs)

    def models(self) -> list[str]:
        return [model for model, _ in self.calls]

    def encoded_garment(self) -> np.ndarray:
        """What the VAE encoded as the garment: TryOn encodes the masked person, then the garment."""
        return [inputs["image"] for model, inputs in self.calls if model == "tryon_vae_encoder"][1]


def test_trained_warping_module_prewarps_tryon_garments(model_repository: Path, tmp_path: Path) -> None:
    data = write_synthetic_viton(tmp_path / "viton", n_pairs=8, size=(128, 96))
    trained = atelier("train", "warping", "--data", str(data), "--steps", "30", "--out", str(tmp_path / "gmm"),
                      home=tmp_path / "home")
    checkpoint = Path(trained.stdout.strip())
    assert checkpoint.exists() and "atelier export --only warping" in trained.stderr
    untrained = tmp_path / "untrained.pt"  # zero offsets: the identity warp
    torch.save({"config": "tiny", "size": (128, 96), "model": build_gmm("tiny").state_dict()}, untrained)

    pair = VitonDataset(data, "test", (256, 192))[0]  # twice the warping module's size
    values = {"person": png_bytes(pair.person), "garment": png_bytes(pair.cloth),
              "mask": png_bytes(inpainting_mask(pair, "upper")), "seed": 3, "steps": 2}
    plain = Recording(model_repository)
    pipeline = load_pipeline(model_repository / "tryon" / "1", plain)
    pipeline([pipeline.parse(values)])

    def tryon_with_warp(gmm: Path, garment_type: str = "upper") -> Recording:
        repository = Path(shutil.copytree(model_repository, tmp_path / f"{gmm.stem}-{garment_type}"))
        atelier("export", "--only", "warping", "--warping-checkpoint", str(gmm), "--model-repository",
                str(repository), home=tmp_path / "home")
        networks = Recording(repository)
        pipeline = load_pipeline(repository / "tryon" / "1", networks)
        pipeline([pipeline.parse({**values, "garment_type": garment_type})])
        return networks

    identity = tryon_with_warp(untrained)
    (warp_inputs,) = [inputs for model, inputs in identity.calls if model == "tryon_warp"]
    assert {name: value.shape for name, value in warp_inputs.items()} == {
        "agnostic": (1, 3, 128, 96), "mask": (1, 1, 128, 96), "cloth": (1, 3, 128, 96)}
    # The identity warp gives back the full-resolution garment, not one blurred through the module's size.
    assert np.abs(identity.encoded_garment() - plain.encoded_garment()).max() < 1e-3
    trained_warp = tryon_with_warp(checkpoint)
    assert np.abs(trained_warp.encoded_garment() - plain.encoded_garment()).mean() > 0.01
    lower = tryon_with_warp(checkpoint, "lower")  # trained on tops: other garments are not warped
    assert "tryon_warp" not in lower.models()


def test_train_tryon_writes_attention_weights_to_export(tmp_path: Path) -> None:
    data = write_synthetic_viton(tmp_path / "viton", n_pairs=2, size=(64, 48), splits=("train",))
    result = atelier("train", "tryon", "--data", str(data), "--steps", "2", "--size", "64x48", "--out",
                     str(tmp_path / "attention"), home=tmp_path / "home")
    weights = Path(result.stdout.strip())
    assert weights.name == "attention.safetensors" and weights.stat().st_size > 0
    assert f"--tryon-attention {weights}" in result.stderr


def test_an_exported_parser_derives_the_mask_of_a_request_without_one(model_repository: Path, tmp_path: Path) -> None:
    from atelier.diffusion.parsing import load_human_parser_if_exported

    repository = Path(shutil.copytree(model_repository, tmp_path / "repository"))
    exported = atelier("export", "--only", "parser", "--model-repository", str(repository), home=tmp_path / "home")
    assert "tryon now derives the mask" in exported.stderr
    person = VitonDataset(write_synthetic_viton(tmp_path / "viton", n_pairs=1, size=(128, 96)), "test",
                          (128, 96))[0].person
    values = {"person": png_bytes(person), "garment": png_bytes(person.crop((10, 20, 86, 110))),
              "garment_type": "lower", "seed": 1, "steps": 2}
    networks = Recording(repository)
    pipeline = load_pipeline(repository / "tryon" / "1", networks)
    request = pipeline.parse(values)  # no mask sent: the parser's
    assert networks.models() == ["tryon_parser"]
    expected = load_human_parser_if_exported(repository, OnnxNetworks(repository))(person, "lower")
    assert np.array_equal(np.asarray(request.mask), np.asarray(expected)) and request.mask.size == person.size
    image = pipeline([request])[0]
    outside = np.asarray(request.mask) == 0
    assert image.shape == (128, 96, 3) and outside.any()
    assert np.array_equal(image[outside], np.asarray(person)[outside])
