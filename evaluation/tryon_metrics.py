"""Paired virtual try-on metrics for `atelier eval tryon`: SSIM, LPIPS, FID and KID, as papers report them on
VITON-HD's paired test split (CatVTON's table: SSIM and LPIPS per pair, FID and KID between the two sets).

All four come from torchmetrics. SSIM needs no weights. The others need published checkpoints which their
libraries download on first use; nothing is downloaded here: each must already be a file in the torch hub cache,
`<torch hub dir>/checkpoints/` = `$TORCH_HOME/hub/checkpoints/` (TORCH_HOME defaults to `$XDG_CACHE_HOME/torch`,
that is `~/.cache/torch`), named as below. Fetch them on a machine with internet (or let the libraries download
them there once) and copy them over.

| metric        | file in the hub cache                     | published at                                    |
|---------------|-------------------------------------------|-------------------------------------------------|
| FID, KID      | weights-inception-2015-12-05-6726825d.pth | https://github.com/toshas/torch-fidelity/       |
|               | (torch-fidelity's port of TF Inception-v3)|   releases/download/v0.2.0/<the file name>      |
| LPIPS alex    | alexnet-owt-7be5be79.pth                  | https://download.pytorch.org/models/<file name> |
| LPIPS vgg     | vgg16-397923af.pth                        | https://download.pytorch.org/models/<file name> |
| LPIPS squeeze | squeezenet1_1-b8a52dc0.pth                | https://download.pytorch.org/models/<file name> |

LPIPS's linear layers (v0.1) ship inside the torchmetrics wheel (torchmetrics/functional/image/lpips_models/).
The hex group in each file name is the start of the file's sha256, which is checked here, so a file that is not
the published one (a stand-in, a truncated copy) is refused unless the caller allows it, and is then labelled as
such in the results. pytorch-fid's pt_inception-2015-12-05-6726825d.pth carries the same hash: copied under the
name above, it passes if it is the same bytes. CatVTON used clean-fid for FID/KID (the same 2015-12-05 TF
Inception, ported separately, PIL bicubic resize; it prints KID x 1000) and LPIPS squeeze; torchmetrics resizes
to 299 with antialiased bilinear, so FID is close to but not bit-exact with such tables.

Without the weights, the explicit alternatives are a custom feature extractor for FID/KID (`feature=<callable>`,
recorded as "custom: <name>") and no LPIPS (`lpips_net=None`, reported as null with the reason); the results'
`backbones` say what each metric used and `comparable_with_papers` whether all of them were the published ones.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

import numpy as np
import torch
import torchvision.models
from PIL import Image
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torchmetrics.image import (
    FrechetInceptionDistance,
    KernelInceptionDistance,
    LearnedPerceptualImagePatchSimilarity,
    StructuralSimilarityIndexMeasure,
)
from torchmetrics.image.fid import NoTrainInceptionV3

from atelier.config import AtelierError
from atelier.plots import saved_figure

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]
"""uint8 images (N, 3, H, W) -> features (N, d), as torchmetrics' own Inception takes them."""

LPIPS_WEIGHTS = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights", "squeeze": "SqueezeNet1_1_Weights"}
INCEPTION_FEATURES = 2048
KID_SUBSETS = 100
KID_MAX_SUBSET_SIZE = 1000  # torch-fidelity's and clean-fid's default; smaller sets use all their pairs
KID_SEED = 0
REPORT_CELL = (192, 256)  # width, height of one image in the report's grid: VITON-HD's 3:4


class TryOnSample(NamedTuple):
    """One row of the report's grid: uint8 HxWx3 images."""

    person: np.ndarray
    garment: np.ndarray
    generated: np.ndarray
    reference: np.ndarray


def checkpoint_path(url: str) -> Path:
    """Where torch.hub's load_state_dict_from_url looks for `url` before downloading it."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_label(path: Path, allow_unpublished: bool) -> tuple[str, bool]:
    """The file's label and whether it is the published one; AtelierError for another file unless allowed."""
    published = torch.hub.HASH_REGEX.search(path.name).group(1)
    actual = _sha256(path)
    if actual.startswith(published):
        return f"{path.name} (published, sha256 verified)", True
    if not allow_unpublished:
        raise AtelierError(f"{path} is not the published file: its sha256 starts {actual[:len(published)]}, the "
                           f"published one's {published}. Delete it and fetch it again.")
    return (f"{path.name} UNPUBLISHED weights (sha256 {actual[:12]}, published {published}...): "
            f"not comparable with papers"), False


def _lpips_url(net: str) -> str:
    """The torchvision checkpoint torchmetrics' LPIPS loads for `net` (the weights enum's DEFAULT)."""
    return getattr(torchvision.models, LPIPS_WEIGHTS[net]).DEFAULT.url


def _feature_name(feature: FeatureExtractor) -> str:
    return getattr(feature, "name", None) or getattr(feature, "__name__", None) or type(feature).__name__


def _require(urls: dict[str, str]) -> dict[str, Path]:
    """The cached checkpoint of each metric, or one AtelierError naming every missing file."""
    paths = {metric: checkpoint_path(url) for metric, url in urls.items()}
    missing = [f"  {metric}: {paths[metric]}\n    from {url}" for metric, url in urls.items()
               if not paths[metric].is_file()]
    if missing:
        raise AtelierError("missing pretrained weights (nothing is downloaded during evaluation):\n"
                           + "\n".join(missing)
                           + "\nDownload each file on a machine with internet and copy it to that path, or set "
                             "TORCH_HOME to a folder whose hub/checkpoints/ holds them. Without them: "
                             "feature=<extractor> gives custom, not paper-comparable FID/KID, and lpips_net=None "
                             "leaves LPIPS out.")
    return paths


class _GivenFeatures(nn.Module):
    """Hands FID and KID features computed once per image, so the backbone runs once for both, and KID uses the
    Inception loaded from the checked file (torchmetrics' KID takes no weights path: it would download them)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def _batch(images: Sequence[np.ndarray], what: str, device: torch.device) -> torch.Tensor:
    if not images:
        raise AtelierError(f"no {what} images")
    shapes = {image.shape for image in images}
    if any(image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 for image in images) or len(shapes) > 1:
        raise AtelierError(f"{what} images must be uint8 HxWx3 arrays of one size per update, got "
                           f"{sorted(shapes)} of {sorted({str(image.dtype) for image in images})}")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(device)


class TryOnMetrics:
    """SSIM, LPIPS, FID and KID between generated try-ons and their ground-truth photos, pair by pair.

    feature: "inception" for the standard FID/KID (torch-fidelity's Inception-v3, 2048-d pool features, through
    torchmetrics), or a FeatureExtractor for a custom one (offline tests; its numbers compare with nothing
    published). lpips_net: "alex", "vgg", "squeeze" (CatVTON's), or None for no LPIPS.
    allow_unpublished_weights: run on cached files whose sha256 is not the published one (a stand-in built for a
    test), labelling them so in the results, instead of refusing them.
    """

    def __init__(self, feature: str | FeatureExtractor = "inception", lpips_net: str | None = "alex", *,
                 allow_unpublished_weights: bool = False, device: str | torch.device = "cpu") -> None:
        if isinstance(feature, str) and feature != "inception":
            raise AtelierError(f"feature must be 'inception' or a feature extractor, not {feature!r}")
        if lpips_net is not None and lpips_net not in LPIPS_WEIGHTS:
            raise AtelierError(f"lpips_net must be one of {sorted(LPIPS_WEIGHTS)} or None, not {lpips_net!r}")
        urls = {"FID/KID (Inception-v3)": URL_INCEPTION_V3} if feature == "inception" else {}
        if lpips_net is not None:
            urls[f"LPIPS ({lpips_net})"] = _lpips_url(lpips_net)
        paths = _require(urls)  # every file is checked before any model is built

        self.device = torch.device(device)
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0).to(self.device)
        published = []
        if feature == "inception":
            path = paths["FID/KID (Inception-v3)"]
            label, ok = _weights_label(path, allow_unpublished_weights)
            published.append(ok)
            self.features: FeatureExtractor = NoTrainInceptionV3(
                name="inception-v3-compat", features_list=[str(INCEPTION_FEATURES)],
                feature_extractor_weights_path=str(path)).to(self.device)
            self.feature_label = f"inception-v3 {INCEPTION_FEATURES}-d (torch-fidelity {label})"
        else:
            self.features = feature
            self.feature_label = f"custom: {_feature_name(feature)} (not comparable with published FID/KID)"
            published.append(False)
        self.lpips: LearnedPerceptualImagePatchSimilarity | None = None
        self.lpips_label = "not computed: lpips_net=None (no LPIPS without its pretrained weights)"
        if lpips_net is not None:
            label, ok = _weights_label(paths[f"LPIPS ({lpips_net})"], allow_unpublished_weights)
            published.append(ok)
            self.lpips = LearnedPerceptualImagePatchSimilarity(net_type=lpips_net, normalize=True).to(self.device)
            self.lpips_label = f"{lpips_net}: torchvision {label} + LPIPS v0.1 linear layers shipped with torchmetrics"
        self.comparable_with_papers = all(published)  # every number it reports, a missing LPIPS aside
        self.pairs = 0
        self._real: list[torch.Tensor] = []
        self._fake: list[torch.Tensor] = []

    @torch.no_grad()
    def update(self, generated: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> None:
        """generated[i] is the try-on of reference[i]'s person and garment; one size within a call."""
        fake, real = _batch(generated, "generated", self.device), _batch(reference, "reference", self.device)
        if fake.shape != real.shape:
            raise AtelierError(f"generated {tuple(fake.shape)} and reference {tuple(real.shape)} images must pair up")
        self.ssim.update(fake / 255.0, real / 255.0)
        if self.lpips is not None:
            self.lpips.update(fake / 255.0, real / 255.0)
        self._fake.append(self.features(fake).double().cpu())
        self._real.append(self.features(real).double().cpu())
        self.pairs += len(fake)

    def compute(self) -> dict[str, Any]:
        if self.pairs < 2:
            raise AtelierError(f"FID and KID need at least 2 pairs, got {self.pairs}")
        real, fake = torch.cat(self._real), torch.cat(self._fake)
        fid = FrechetInceptionDistance(feature=_GivenFeatures(real.shape[1]))
        subset_size = min(KID_MAX_SUBSET_SIZE, self.pairs)
        with warnings.catch_warnings():  # "will save all extracted features": it gets them from memory anyway
            warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance`")
            kid = KernelInceptionDistance(feature=_GivenFeatures(real.shape[1]), subsets=KID_SUBSETS,
                                          subset_size=subset_size)
        for metric in (fid, kid):
            metric.update(real, real=True)
            metric.update(fake, real=False)
        with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global generator
            torch.manual_seed(KID_SEED)
            kid_mean, kid_std = kid.compute()
        return {
            "pairs": self.pairs,
            "ssim": round(float(self.ssim.compute()), 4),
            "lpips": None if self.lpips is None else round(float(self.lpips.compute()), 4),
            "fid": round(float(fid.compute()), 4),
            "kid": round(float(kid_mean), 6),
            "kid_std": round(float(kid_std), 6),
            "kid_subset_size": subset_size,
            "kid_subsets": KID_SUBSETS,
            "backbones": {"ssim": "none (pixels, data_range 1)", "lpips": self.lpips_label,
                          "fid": self.feature_label, "kid": self.feature_label},
            "comparable_with_papers": self.comparable_with_papers,
        }


def _cell(image: np.ndarray) -> np.ndarray:
    """The image at the grid's cell size, with a white margin under it to part the rows."""
    cell = np.asarray(Image.fromarray(image).convert("RGB").resize(REPORT_CELL, Image.Resampling.BICUBIC))
    return np.pad(cell, ((0, 6), (0, 0), (0, 0)), constant_values=255)


def _summary(metrics: dict[str, Any]) -> str:
    lpips = "n/a" if metrics["lpips"] is None else f"{metrics['lpips']:.4f}"
    scores = (f"{metrics['pairs']} pairs   SSIM {metrics['ssim']:.4f}   LPIPS {lpips}   FID {metrics['fid']:.2f}   "
              f"KID {metrics['kid']:.5f}")
    if metrics["comparable_with_papers"]:
        return f"{scores}\npublished backbones: comparable with papers"
    return f"{scores}\nNOT comparable with papers: custom or unpublished backbones (see tryon.json)"


def write_tryon_report(metrics: dict[str, Any], out_dir: Path, samples: Sequence[TryOnSample]) -> tuple[Path, Path]:
    """tryon.json (the metrics as computed) and tryon.png (a person / garment / generated / reference grid)."""
    if not samples:
        raise AtelierError("the try-on report needs at least one sample to show")
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / "tryon.json", out_dir / "tryon.png"
    json_path.write_text(json.dumps(metrics, indent=2))
    with saved_figure(png_path, ncols=len(TryOnSample._fields), figsize=(8, 2.6 * len(samples) + 1)) as axes:
        for axis, column in zip(axes, TryOnSample._fields):
            axis.imshow(np.concatenate([_cell(getattr(sample, column)) for sample in samples]))
            axis.set_title(column)
            axis.axis("off")
        axes[0].figure.suptitle(_summary(metrics), fontsize=9)
    return json_path, png_path
