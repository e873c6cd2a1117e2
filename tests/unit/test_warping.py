"""The GMM's thin-plate-spline warp and shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from atelier.config import AtelierError
from models.warping import GMM_CONFIGS, TpsGridGen, build_gmm, warp
from training.viton_synthetic import synthetic_pair


def _cloth(size: tuple[int, int] = (128, 96)) -> torch.Tensor:
    """A synthetic flat garment, [1, 3, H, W] in [-1, 1]."""
    image = np.asarray(synthetic_pair(0, size).cloth, dtype=np.float32)
    return torch.from_numpy(image / 127.5 - 1).permute(2, 0, 1)[None]


def test_untrained_gmm_reproduces_the_garment():
    model = build_gmm("tiny").eval()
    cloth = _cloth().repeat(2, 1, 1, 1)
    agnostic, mask = torch.randn(2, 3, 128, 96), torch.rand(2, 1, 128, 96).round()
    with torch.no_grad():
        warped, grid = model(agnostic, mask, cloth)
    # the identity grid for align_corners=True, as torch builds it
    identity = F.affine_grid(torch.tensor([[[1.0, 0, 0], [0, 1, 0]]]).repeat(2, 1, 1), [2, 3, 128, 96],
                             align_corners=True)
    assert (grid - identity).abs().max() < 1e-6
    # float32 pixel coordinates are exact to ~1e-5 px, which is what a white-to-dark edge can move by
    assert (warped - cloth).abs().max() < 2e-5
    assert (warped - cloth).abs().mean() < 1e-6


def test_last_layer_starts_at_zero():
    model = build_gmm("tiny")
    assert not model.offsets.weight.any() and not model.offsets.bias.any()
    assert model.offsets.out_features == 2 * GMM_CONFIGS["tiny"]["grid"] ** 2


def test_output_shapes_and_size_override():
    model = build_gmm("tiny", size=(64, 64)).eval()
    with torch.no_grad():
        warped, grid = model(torch.zeros(3, 3, 64, 64), torch.zeros(3, 1, 64, 64), torch.zeros(3, 3, 64, 64))
    assert warped.shape == (3, 3, 64, 64) and grid.shape == (3, 64, 64, 2)
    with pytest.raises(AtelierError, match="multiples of 32"):
        build_gmm("tiny", size=(100, 96))
    with pytest.raises(AtelierError, match="unknown GMM config"):
        build_gmm("huge")


def test_shifting_one_control_point_moves_that_pixel():
    # 65x49: the 5x5 control points land on whole pixels (every 16 rows, every 12 columns).
    tps = TpsGridGen((65, 49), grid=5)
    offsets = torch.zeros(1, 25, 2)
    point = 2 * 5 + 1  # third row, second column: pixel (row 32, column 12)
    offsets[0, point] = torch.tensor([24 * 2 / 48, -8 * 2 / 64])  # sample 24 columns right, 8 rows up
    image = torch.zeros(1, 1, 65, 49)
    image[0, 0, 24, 36] = 1.0
    warped = warp(image, tps(offsets), padding_mode="zeros")
    assert warped[0, 0, 32, 12] == pytest.approx(1.0, abs=1e-5)
    assert warp(image, tps(torch.zeros(1, 25, 2)), padding_mode="zeros")[0, 0, 32, 12] == 0
    grid = tps(offsets)[0]
    assert torch.allclose(grid[0, 0], torch.tensor([-1.0, -1.0]), atol=1e-6)  # the other control points stay put
    assert torch.allclose(grid[64, 48], torch.tensor([1.0, 1.0]), atol=1e-6)


def test_shifting_every_control_point_translates():
    tps = TpsGridGen((65, 49), grid=5)
    offsets = torch.tensor([4 * 2 / 48, 2 * 2 / 64]).repeat(1, 25, 1)  # 4 columns right, 2 rows down
    image = _cloth((65, 49))
    warped = warp(image, tps(offsets))
    assert torch.allclose(warped[:, :, :-2, :-4], image[:, :, 2:, 4:], atol=1e-4)


def test_tps_bends_smoothly_between_control_points():
    tps = TpsGridGen((65, 49), grid=5)
    offsets = torch.zeros(1, 25, 2)
    offsets[0, 12, 1] = 0.1  # the centre point samples lower down
    column = tps(offsets)[0, :, 24, 1] - torch.linspace(-1, 1, 65)
    assert column[32] == pytest.approx(0.1, abs=1e-6)
    assert 0 < column[24] < 0.1 and 0 < column[40] < 0.1  # in between: part of the shift
    assert column.abs()[[0, 16, 48, 64]].max() < 1e-6  # at the column's other control points: none
