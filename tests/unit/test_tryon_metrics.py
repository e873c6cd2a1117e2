"""Try-on metrics offline: nothing here has the published weights, so the standard code paths run on stand-in
checkpoints built in a temporary TORCH_HOME (which the metrics must label as unpublished), and the offline option
on a seeded custom feature extractor."""

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torchmetrics.image import FrechetInceptionDistance, KernelInceptionDistance

from atelier.config import AtelierError
from evaluation.tryon_metrics import (
    TryOnMetrics,
    TryOnSample,
    _weights_label,
    checkpoint_path,
    write_tryon_report,
)

PAIRS = 6
SQUEEZENET_URL = torchvision.models.SqueezeNet1_1_Weights.DEFAULT.url


class SeededConv(nn.Module):
    """A custom feature extractor: seeded random high-pass filters (zero-sum 3x3 kernels), so noise shows."""

    name = "test-convnet"

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            conv = nn.Conv2d(3, 8, 3, bias=False)
        with torch.no_grad():
            conv.weight -= conv.weight.mean(dim=(2, 3), keepdim=True)
        self.net = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.float() / 255)


def _images(count: int, seed: int) -> list[np.ndarray]:
    """Smooth colour fields with stripes, 128x96 (VITON-HD's 4:3)."""
    rng = np.random.default_rng(seed)
    stripes = (np.arange(128)[:, None, None] // 8 % 2) * 40
    images = []
    for _ in range(count):
        field = Image.fromarray(rng.integers(0, 200, (4, 3, 3), dtype=np.uint8)).resize((96, 128), Image.BICUBIC)
        images.append(np.clip(np.asarray(field, dtype=np.int32) + stripes, 0, 255).astype(np.uint8))
    return images


def _tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)


def _noisy(images: list[np.ndarray]) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8) for image in images]


@pytest.fixture
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, *args, **kwargs) -> None:
        raise AssertionError(f"attempted to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_downloads: None) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def _inception_stand_in() -> nn.Module:
    """A random Inception-v3 in torch-fidelity's layout, its batch norms set on random images so that its features
    neither vanish nor explode."""
    inception = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    for module in inception.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # running statistics = those of the batch below
    with torch.no_grad():
        inception.train()(torch.rand(2, 3, 299, 299) * 2 - 1)
    return inception.eval()


@pytest.fixture(scope="module")
def stand_in_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TORCH_HOME whose hub cache holds random networks under the published file names."""
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(),
                   checkpoints / Path(SQUEEZENET_URL).name)
        torch.save(_inception_stand_in().state_dict(), checkpoints / Path(URL_INCEPTION_V3).name)
    return home


@pytest.fixture
def stand_ins(stand_in_home: Path, monkeypatch: pytest.MonkeyPatch, no_downloads: None) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(stand_in_home))
    return stand_in_home


def _scores(generated: list[np.ndarray], reference: list[np.ndarray], **options) -> dict:
    metrics = TryOnMetrics(**options)
    metrics.update(generated[:4], reference[:4])  # two updates: the metrics accumulate
    metrics.update(generated[4:], reference[4:])
    return metrics.compute()


def test_identical_pairs_score_perfectly_and_noise_scores_worse(stand_ins):
    options = {"feature": SeededConv(), "lpips_net": "squeeze", "allow_unpublished_weights": True}
    reference = _images(PAIRS, seed=0)
    same = _scores(reference, reference, **options)
    assert same["pairs"] == PAIRS
    assert same["ssim"] == pytest.approx(1.0, abs=1e-4)
    assert same["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert same["fid"] == pytest.approx(0.0, abs=1e-4)
    noisy = _scores(_noisy(reference), reference, **options)
    assert noisy["ssim"] < 0.9
    assert noisy["lpips"] > same["lpips"] + 0.01
    assert noisy["fid"] > same["fid"] + 0.01
    assert noisy["kid"] > same["kid"] + 1e-3
    assert noisy["kid_subset_size"] == PAIRS  # the subsets shrink to the set


def test_missing_weights_fail_fast_naming_each_file(empty_torch_home):
    start = time.monotonic()
    with pytest.raises(AtelierError) as error:
        TryOnMetrics()
    assert time.monotonic() - start < 3
    message = str(error.value)
    inception = empty_torch_home / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    assert str(inception) in message and URL_INCEPTION_V3 in message
    assert "alexnet-owt-7be5be79.pth" in message and "https://download.pytorch.org/models/" in message
    assert "TORCH_HOME" in message
    assert not inception.exists()


def test_offline_option_records_its_backbones_in_the_report(empty_torch_home, tmp_path):
    reference = _images(PAIRS, seed=0)
    metrics = _scores(_noisy(reference), reference, feature=SeededConv(), lpips_net=None)
    assert metrics["lpips"] is None
    assert metrics["backbones"]["lpips"].startswith("not computed: lpips_net=None")
    assert metrics["backbones"]["fid"] == metrics["backbones"]["kid"]
    assert metrics["backbones"]["fid"].startswith("custom: test-convnet")
    assert metrics["comparable_with_papers"] is False

    samples = [TryOnSample(person, garment[:64], generated, person)
               for person, garment, generated in zip(reference[:3], _images(3, seed=2), _noisy(reference[:3]))]
    json_path, png_path = write_tryon_report(metrics, tmp_path / "report", samples)
    assert json.loads(json_path.read_text()) == metrics
    with Image.open(png_path) as figure:
        assert figure.format == "PNG" and figure.height > figure.width / 2


def test_stand_in_weights_are_refused_unless_allowed_and_then_labelled(stand_ins):
    with pytest.raises(AtelierError, match="squeezenet1_1-b8a52dc0.pth is not the published file"):
        TryOnMetrics(feature=SeededConv(), lpips_net="squeeze")
    metrics = TryOnMetrics(feature=SeededConv(), lpips_net="squeeze", allow_unpublished_weights=True)
    assert "UNPUBLISHED" in metrics.lpips_label and "published, sha256 verified" not in metrics.lpips_label
    assert metrics.comparable_with_papers is False


def test_a_file_matching_its_published_hash_is_labelled_verified(tmp_path):
    content = b"stand-in checkpoint"
    path = tmp_path / f"net-{hashlib.sha256(content).hexdigest()[:8]}.pth"
    path.write_bytes(content)
    assert _weights_label(path, allow_unpublished=False) == (f"{path.name} (published, sha256 verified)", True)


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_fid_and_kid_are_torchmetrics_run_on_the_images(empty_torch_home):
    reference, generated = _images(PAIRS, seed=0), _noisy(_images(PAIRS, seed=0))
    ours = _scores(generated, reference, feature=SeededConv(), lpips_net=None)
    fid = FrechetInceptionDistance(feature=SeededConv())
    kid = KernelInceptionDistance(feature=SeededConv(), subset_size=PAIRS)
    for metric in (fid, kid):
        metric.update(_tensor(reference), real=True)
        metric.update(_tensor(generated), real=False)
    assert ours["fid"] == pytest.approx(float(fid.compute()), abs=1e-4)
    assert ours["kid"] == pytest.approx(float(kid.compute()[0]), abs=1e-6)


def test_inception_path_runs_torchmetrics_fid_network(stand_ins):
    metrics = TryOnMetrics(lpips_net=None, allow_unpublished_weights=True)
    assert metrics.feature_label.startswith("inception-v3 2048-d (torch-fidelity weights-inception-2015-12-05")
    assert "UNPUBLISHED" in metrics.feature_label and not metrics.comparable_with_papers
    fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(checkpoint_path(URL_INCEPTION_V3)))
    images = _tensor([np.asarray(Image.fromarray(image).resize((384, 512))) for image in _images(2, seed=0)])
    with torch.no_grad():
        ours, theirs = metrics.features(images), fid.inception(images)
    assert ours.shape == (2, 2048) and ours.std(dim=0).mean() > 0.1  # the stand-in's features tell images apart
    torch.testing.assert_close(ours, theirs)


def test_bad_inputs_are_refused(empty_torch_home):
    with pytest.raises(AtelierError, match="lpips_net must be one of"):
        TryOnMetrics(feature=SeededConv(), lpips_net="resnet")
    with pytest.raises(AtelierError, match="feature must be 'inception'"):
        TryOnMetrics(feature="clip")
    metrics = TryOnMetrics(feature=SeededConv(), lpips_net=None)
    images = _images(2, seed=0)
    with pytest.raises(AtelierError, match="must pair up"):
        metrics.update(images, [image[:64] for image in images])
    with pytest.raises(AtelierError, match="uint8 HxWx3"):
        metrics.update([image.astype(np.float32) for image in images], images)
    metrics.update(images[:1], images[:1])
    with pytest.raises(AtelierError, match="at least 2 pairs"):
        metrics.compute()
