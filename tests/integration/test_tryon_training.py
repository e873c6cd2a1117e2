"""`train_tryon` on a synthetic VITON-HD-style set: only self-attention learns, runs resume exactly, and the
weights it writes are what `atelier export --tryon-attention` serves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models.diffusion import load_diffusers_pipeline
from training.train_tryon import TryOnTrainConfig, train_tryon
from training.viton_synthetic import write_synthetic_viton

pytestmark = pytest.mark.integration
CONFIG = TryOnTrainConfig(steps=6, batch_size=2, lr=1e-3, size=(64, 48), checkpoint_every=3)


@pytest.fixture(scope="module")
def viton(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_viton(tmp_path_factory.mktemp("viton"), n_pairs=4, size=(64, 48))


@pytest.fixture(scope="module")
def straight(viton: Path, tmp_path_factory: pytest.TempPathFactory):
    return train_tryon(viton, tmp_path_factory.mktemp("straight"), CONFIG, progress=False)


def test_only_the_self_attention_learns(straight) -> None:
    trained = load_diffusers_pipeline("tryon", "tiny", attention=str(straight.attention)).unet.state_dict()
    base = load_diffusers_pipeline("tryon", "tiny").unet.state_dict()
    changed = {name for name in base if not torch.equal(base[name], trained[name])}
    attention = {name for name in base if ".attn1." in name}
    assert changed and changed <= attention  # nothing outside self-attention moved
    assert len(straight.losses) == CONFIG.steps and all(np.isfinite(straight.losses))


def test_an_interrupted_run_resumes_to_the_same_weights(viton: Path, straight, tmp_path: Path) -> None:
    half = TryOnTrainConfig(**{**CONFIG.__dict__, "steps": 3})
    train_tryon(viton, tmp_path, half, progress=False)
    resumed = train_tryon(viton, tmp_path, CONFIG, progress=False)
    assert resumed.losses == straight.losses
    expected, got = load_file(straight.attention), load_file(resumed.attention)
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)


def test_the_exported_tryon_serves_the_trained_weights(straight, tmp_path: Path) -> None:
    from atelier.diffusion.networks import OnnxNetworks
    from atelier.diffusion.pipelines import load_pipeline
    from export.diffusion import TorchNetworks, export_pipelines
    from tests.conftest import copy_repository

    repository = copy_repository(tmp_path / "repository")
    export_pipelines(repository, "tiny", ("tryon",), attention=str(straight.attention))
    trained = load_diffusers_pipeline("tryon", "tiny", attention=str(straight.attention))
    sample = {"sample": np.random.default_rng(0).standard_normal((1, 9, 16, 6), dtype=np.float32),
              "timestep": np.array([500.0], np.float32)}
    onnx = OnnxNetworks(repository)("tryon_unet", sample, ["noise_pred"])[0]
    assert np.abs(onnx - TorchNetworks("tryon", trained)("tryon_unet", sample, ["noise_pred"])[0]).max() < 1e-4
    base = TorchNetworks("tryon", load_diffusers_pipeline("tryon", "tiny"))("tryon_unet", sample, ["noise_pred"])[0]
    assert np.abs(onnx - base).max() > 1e-3
    assert load_pipeline(repository / "tryon" / "1", OnnxNetworks(repository)).spec.build.attention == str(
        straight.attention)


def test_a_checkpoint_of_other_settings_is_not_resumed(viton: Path, straight, tmp_path: Path) -> None:
    train_tryon(viton, tmp_path, TryOnTrainConfig(**{**CONFIG.__dict__, "steps": 3, "lr": 1e-4}), progress=False)
    with pytest.warns(UserWarning, match="training from scratch"):
        fresh = train_tryon(viton, tmp_path, CONFIG, progress=False)
    assert fresh.losses == straight.losses  # the whole run again, at CONFIG's learning rate


def test_another_seed_gives_another_run(viton: Path, straight, tmp_path: Path) -> None:
    other = train_tryon(viton, tmp_path, TryOnTrainConfig(**{**CONFIG.__dict__, "seed": 1}), progress=False)
    assert other.losses != straight.losses
