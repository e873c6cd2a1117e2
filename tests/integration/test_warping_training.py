"""The try-on warping module trained on a synthetic VITON-HD set: it learns, resumes exactly, and exports."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.warping import export_warping
from models.warping import load_gmm
from training.train_warping import train_warping, warping_batch
from training.viton import VitonDataset
from training.viton_synthetic import write_synthetic_viton

pytestmark = pytest.mark.integration

STEPS = 300


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic_viton(tmp_path_factory.mktemp("viton"), n_pairs=16, size=(128, 96))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    return train_warping(data, tmp_path_factory.mktemp("gmm"), steps=STEPS, progress=False)


@pytest.fixture(scope="module")
def held_out(data):
    """The test split's people, each with their own garment: none of them was trained on."""
    dataset = VitonDataset(data, "test", size=(128, 96), paired=True)
    return warping_batch([dataset[i] for i in range(len(dataset))])


def test_loss_falls_and_the_warp_fits_unseen_people(trained, held_out):
    losses = np.array(trained.losses)
    assert len(losses) == STEPS and np.isfinite(losses).all()
    start, end = losses[:20].mean(), losses[-20:].mean()
    assert end < 0.7 * start, (start, end)
    model = load_gmm(trained.checkpoint)
    with torch.no_grad():
        warped, _ = model(held_out["agnostic"], held_out["mask"], held_out["cloth"])
    trained_l1 = (warped - held_out["target"]).abs().mean()
    unwarped_l1 = (held_out["cloth"] - held_out["target"]).abs().mean()  # what the untrained (identity) warp gives
    assert trained_l1 < 0.5 * unwarped_l1, (trained_l1, unwarped_l1)


def test_interrupted_and_resumed_run_equals_a_straight_one(data, tmp_path):
    # 16 pairs in batches of 4: stopping at 5 stops mid-epoch, at 8 on an epoch's end.
    straight = train_warping(data, tmp_path / "straight", steps=12, checkpoint_every=3, progress=False)
    for steps in (5, 8, 12):
        resumed = train_warping(data, tmp_path / "resumed", steps=steps, checkpoint_every=3, progress=False)
        assert len(resumed.losses) == steps
    assert resumed.losses == straight.losses
    left = torch.load(straight.checkpoint, weights_only=True)
    right = torch.load(resumed.checkpoint, weights_only=True)
    assert left["model"].keys() == right["model"].keys()
    assert all(torch.equal(left["model"][key], right["model"][key]) for key in left["model"])
    assert left["model"]["offsets.weight"].any()  # it did train

    with pytest.warns(UserWarning, match="from scratch"):
        other = train_warping(data, tmp_path / "resumed", steps=2, lr=5e-4, progress=False)
    assert len(other.losses) == 2


def test_onnx_export_matches_pytorch(trained, held_out, tmp_path):
    folder = tmp_path / "gmm"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept")
    difference = export_warping(trained.checkpoint, folder / "model.onnx")
    assert 0 <= difference < 1e-3
    assert (folder / "notes.txt").read_text() == "kept"  # the export does not empty the folder it writes to

    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = {name: held_out[name][:3].numpy() for name in ("agnostic", "mask", "cloth")}  # another batch size
    warped, grid = session.run(["warped_cloth", "grid"], inputs)
    with torch.no_grad():
        expected, expected_grid = load_gmm(trained.checkpoint)(*(torch.from_numpy(v) for v in inputs.values()))
    assert warped.shape == (3, 3, 128, 96) and grid.shape == (3, 128, 96, 2)
    assert np.abs(warped - expected.numpy()).max() < 1e-3
    assert np.abs(grid - expected_grid.numpy()).max() < 1e-4
