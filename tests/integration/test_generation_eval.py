"""A briefly trained txt2img: served by a running Triton as soon as it is trained (as `atelier up` does while the
demo runs), and judged by `atelier eval generation` on a small split against its random-weight network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from atelier.config import REPO_ROOT, Settings
from atelier.diffusion.exported import served_weights
from atelier.processes import free_port
from atelier.stack import serve_trained
from atelier.triton_client import TritonClient
from atelier.triton_server import EmbeddedTriton, TritonPorts
from export.diffusion import export_pipelines
from export.diffusion_models import tiny_pipeline
from training.generation_eval import JUDGE_BAR, Judge, evaluate_generation
from training.train_generators import GeneratorTrainConfig, load_trained, train_generators

pytestmark = pytest.mark.integration

# A few minutes on 2 cores: far from the demo's training, enough to draw what noise cannot.
BRIEF = GeneratorTrainConfig(variants=1, vae_steps=300, unet_steps=300, unet_batch=16)
REQUEST = {"prompt": "a red striped dress", "seed": 3, "steps": 8, "width": 128, "height": 128}


@pytest.fixture(scope="module")
def txt2img_server(tmp_path_factory: pytest.TempPathFactory):
    """Triton serving the random-weight tiny txt2img alone, from a repository of its own."""
    work = tmp_path_factory.mktemp("served-generators")
    repository = Path(shutil.copytree(REPO_ROOT / "model_repository", work / "model_repository",
                                      ignore=shutil.ignore_patterns("*.onnx", "*.json", "__pycache__")))
    for folder in repository.iterdir():
        if folder.is_dir() and folder.name != "txt2img" and not folder.name.startswith("sdxl_"):
            shutil.rmtree(folder)
    export_pipelines(repository, "tiny", ("txt2img",))
    server = EmbeddedTriton(repository, work / "runtime", TritonPorts(free_port(), free_port(), free_port()))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def briefly_trained(txt2img_server: EmbeddedTriton, tmp_path_factory: pytest.TempPathFactory):
    """(the random-weight image before, the trained pipelines): trained with `on_trained` serving each network."""
    before, _ = TritonClient(txt2img_server.grpc_url).generate("txt2img", **REQUEST)
    settings = Settings(home=tmp_path_factory.mktemp("home"), triton_url=txt2img_server.grpc_url,
                        triton_admin_key=txt2img_server.admin_key, model_repository=txt2img_server.repository)
    out = tmp_path_factory.mktemp("generators")
    train_generators(out, BRIEF, kinds=("txt2img",), progress=False,
                     on_trained=lambda kind, folder: serve_trained(kind, folder, settings))
    return before, load_trained(out, ("txt2img",))


def test_a_trained_network_is_served_without_restarting_triton(txt2img_server: EmbeddedTriton,
                                                                 briefly_trained) -> None:
    before, _ = briefly_trained
    weights = served_weights(txt2img_server.repository, "txt2img")
    assert weights.learned and "generators" in weights.text
    after, _ = TritonClient(txt2img_server.grpc_url).generate("txt2img", **REQUEST)
    assert txt2img_server.running() and after.shape == before.shape == (128, 128, 3)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 10  # other weights draw another picture


def test_briefly_trained_txt2img_is_judged_above_random_weights(trained_clip, briefly_trained, tmp_path: Path) -> None:
    catalog, checkpoint = trained_clip
    _, trained = briefly_trained
    report = evaluate_generation(trained, {"txt2img": tiny_pipeline("txt2img")}, Judge(checkpoint, catalog),
                                 REPO_ROOT / "model_repository", tmp_path, count=8, progress=False)

    judge = report["judge"]
    assert all(judge["held_out_accuracy"][a] >= JUDGE_BAR for a in ("garment", "color", "pattern"))
    assert (report["prompts"]["seen"], report["prompts"]["unseen"]) == (8, 8)
    trained_figures, random_figures = report["txt2img"]["trained"]["all"], report["txt2img"]["random weights"]["all"]
    attributes = ("garment", "color", "pattern")
    assert sum(trained_figures[a] for a in attributes) >= sum(random_figures[a] for a in attributes) + 0.3
    assert report["txt2img"]["nearest catalog image"]["all"]["garment"] >= 0.8  # the judge reads real products
    assert json.loads((tmp_path / "generation.json").read_text()) == report
    assert (tmp_path / "generation.png").stat().st_size > 0 and (tmp_path / "generation_samples.png").stat().st_size
