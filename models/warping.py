"""The geometric matching module (GMM): the first stage of CP-VTON-style try-on, warping a flat garment onto a person.

Inputs, [B, C, H, W] at the config's size: `agnostic`, the person in RGB scaled to [-1, 1] with the area the
try-on repaints grey (0); `mask`, that area (1) and the rest (0); `cloth`, the flat garment in [-1, 1] on white.
Two CNNs turn (agnostic, mask) and cloth into L2-normalised feature maps; their correlation (every person position
against every cloth position) goes to a regressor for the offsets of a grid of thin-plate-spline control points;
the TPS warp's sampling grid then samples the cloth. Outputs: the warped cloth and the grid, so a caller can warp
the cloth mask the same way with `warp`. Person and cloth only meet in the correlation, as in CP-VTON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from atelier.config import AtelierError

GMM_CONFIGS: dict[str, dict[str, Any]] = {
    # features: widths of the stride-2 convolutions of both extractors, then `refine` 3x3 ones at the last width;
    # regressor: conv widths over the correlation, the first `strided` of them stride 2.
    "tiny": {"size": (128, 96), "features": (16, 32, 64, 64), "refine": 1, "regressor": (64, 32), "strided": 1,
             "grid": 5},
    "full": {"size": (256, 192), "features": (64, 128, 256, 512), "refine": 2, "regressor": (512, 256, 128, 64),
             "strided": 2, "grid": 5},  # CP-VTON's GMM
}


def warp(image: torch.Tensor, grid: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Sample `image` [B, C, h, w] at `grid` [B, H, W, 2] (x, y in [-1, 1], corners at +-1) as the GMM does.

    "border" repeats the cloth's white background outside it; use "zeros" for masks.
    """
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def _radial(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """TPS's radial basis U(r) = r^2 log r^2 between [P, 2] points and [N, 2] centres, U(0) = 0."""
    squared = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return squared * torch.log(torch.where(squared > 0, squared, torch.ones_like(squared)))


class TpsGridGen(nn.Module):
    """CP-VTON's TpsGridGen: the sampling grid of the thin-plate spline taking a regular `grid` x `grid` of control
    points P (row-major, x fastest, corners at +-1) to P + offsets.

    The spline's coefficients solve L [w; a] = [targets; 0] with L = [[U(P, P), 1 P], [(1 P)^T, 0]], and the
    grid at pixel x is U(x, P) w + a . (1, x). That is linear in the targets, and the spline through P itself is
    the identity, so grid = identity + B offsets with B = [U(x, P), 1, x] L^-1[:, :N] fixed: solved once here in
    float64, it makes zero offsets give the identity grid exactly and the forward pass one matmul (exports as is).
    """

    def __init__(self, size: tuple[int, int], grid: int = 5) -> None:
        super().__init__()
        height, width = size
        axis = torch.linspace(-1, 1, grid, dtype=torch.float64)
        cy, cx = torch.meshgrid(axis, axis, indexing="ij")
        control = torch.stack([cx.flatten(), cy.flatten()], 1)  # [N, 2] (x, y)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height, dtype=torch.float64),
                                torch.linspace(-1, 1, width, dtype=torch.float64), indexing="ij")
        pixels = torch.stack([xs.flatten(), ys.flatten()], 1)  # [H*W, 2]
        n = len(control)
        affine = torch.cat([torch.ones(n, 1, dtype=torch.float64), control], 1)
        system = torch.cat([torch.cat([_radial(control, control), affine], 1),
                            torch.cat([affine.T, torch.zeros(3, 3, dtype=torch.float64)], 1)], 0)
        basis = torch.cat([_radial(pixels, control), torch.ones(len(pixels), 1, dtype=torch.float64), pixels], 1)
        self.size, self.points = (height, width), n
        self.register_buffer("control", control.float(), persistent=False)
        self.register_buffer("identity", pixels.view(height, width, 2).float(), persistent=False)
        self.register_buffer("kernel", (basis @ torch.linalg.inv(system)[:, :n]).float(), persistent=False)

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        """[B, N, 2] control-point offsets (x, y; 2 = the image's width or height) -> [B, H, W, 2] grid."""
        return self.identity + (self.kernel @ offsets).view(-1, *self.size, 2)


def _conv(in_channels: int, out_channels: int, stride: int) -> list[nn.Module]:
    kernel = 4 if stride == 2 else 3  # 4x4 stride 2 halves an even size exactly
    return [nn.Conv2d(in_channels, out_channels, kernel, stride, 1), nn.BatchNorm2d(out_channels), nn.ReLU()]


def _extractor(in_channels: int, widths: tuple[int, ...], refine: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += _conv(in_channels, width, 2)
        in_channels = width
    for _ in range(refine):
        layers += _conv(in_channels, in_channels, 1)
    return nn.Sequential(*layers)


def _l2_normalise(features: torch.Tensor) -> torch.Tensor:
    return features / torch.sqrt((features**2).sum(1, keepdim=True) + 1e-6)


def correlation(person: torch.Tensor, cloth: torch.Tensor) -> torch.Tensor:
    """[B, C, h, w] x2 -> [B, h*w, h, w]: channel j at (y, x) is person(y, x) . cloth(position j)."""
    batch, _, height, width = person.shape
    return torch.bmm(cloth.flatten(2).transpose(1, 2), person.flatten(2)).view(batch, height * width, height, width)


class GMM(nn.Module):
    def __init__(self, size: tuple[int, int], features: tuple[int, ...], refine: int, regressor: tuple[int, ...],
                 strided: int, grid: int) -> None:
        super().__init__()
        height, width = size
        factor = 2 ** (len(features) + strided)
        if height % factor or width % factor:
            raise AtelierError(f"GMM size {height}x{width}: both sides must be multiples of {factor}")
        self.size, self.grid_points = (height, width), grid * grid
        self.person = _extractor(4, features, refine)
        self.cloth = _extractor(3, features, refine)
        cells = (height >> len(features)) * (width >> len(features))
        layers: list[nn.Module] = []
        for index, channels in enumerate(regressor):
            layers += _conv(cells if index == 0 else regressor[index - 1], channels, 2 if index < strided else 1)
        self.regressor = nn.Sequential(*layers, nn.Flatten())
        self.offsets = nn.Linear(regressor[-1] * (height // factor) * (width // factor), 2 * self.grid_points)
        nn.init.zeros_(self.offsets.weight)  # an untrained GMM warps nothing: offsets 0, the identity grid
        nn.init.zeros_(self.offsets.bias)
        self.tps = TpsGridGen(size, grid)

    def forward(self, agnostic: torch.Tensor, mask: torch.Tensor, cloth: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """-> (warped cloth [B, 3, H, W], sampling grid [B, H, W, 2])."""
        person = _l2_normalise(self.person(torch.cat([agnostic, mask], 1)))
        garment = _l2_normalise(self.cloth(cloth))
        offsets = torch.tanh(self.offsets(self.regressor(correlation(person, garment))))
        grid = self.tps(offsets.view(-1, self.grid_points, 2))
        return warp(cloth, grid), grid


def build_gmm(name: str = "tiny", size: tuple[int, int] | None = None) -> GMM:
    """A fresh GMM from GMM_CONFIGS[name], at `size` (H, W) instead of the config's when given."""
    if name not in GMM_CONFIGS:
        raise AtelierError(f"unknown GMM config {name!r}; known: {', '.join(GMM_CONFIGS)}")
    config = dict(GMM_CONFIGS[name])
    config["size"] = tuple(size or config["size"])
    return GMM(**config)


def load_gmm(checkpoint: Path | str) -> GMM:
    """The GMM in a train_warping checkpoint ("config", "size" and "model" keys), in eval mode."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AtelierError(f"{checkpoint}: file not found") from None
    if not isinstance(state, dict) or not {"config", "size", "model"} <= state.keys():
        raise AtelierError(f"{checkpoint}: not a train_warping checkpoint (no config, size and model)")
    model = build_gmm(state["config"], tuple(state["size"]))
    model.load_state_dict(state["model"])
    return model.eval()
