"""`train_lora` on a tiny mixture of catalog, trend and order rows: runs repeat and resume exactly, the LoRA it
writes fuses into the UNet as exactly scale * alpha / rank * B @ A (as peft's own merge does), and the
exported UNet serves it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from safetensors.torch import load_file

from atelier.demo_catalog import write_catalog
from atelier.stylist.prompts import article
from models.diffusion import load_diffusers_pipeline
from training.lora_data import LoraSource, MixtureSampler, caption, catalog_source, load_example, plain_caption
from training.train_lora import LORA_TARGETS, LoraTrainConfig, train_lora

pytestmark = pytest.mark.integration
CONFIG = LoraTrainConfig(steps=8, batch_size=2, lr=1e-3, rank=4, alpha=8.0, resolution=64, checkpoint_every=4,
                         validation_every=4, validation_prompts=("a red striped shirt", "a navy coat"),
                         validation_inference_steps=2)
SCALE = 0.7


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[LoraSource]:
    catalog = catalog_source(write_catalog(tmp_path_factory.mktemp("catalog"), count=8, size=64, progress=False))

    def png(path: str, size: tuple[int, int]) -> bytes:  # a landscape picture, as trend posts often are
        buffer = io.BytesIO()
        ImageOps.pad(Image.open(path).convert("RGB"), size, color=(230, 230, 230)).save(buffer, "PNG")
        return buffer.getvalue()

    trend = [{"image": png(row["image"], (80, 48)), "caption": f"street style: {row['title']}",
              "hashtags": ["#ootd", "streetstyle"], "labels": {"style": "casual"}} for row in catalog.rows[:3]]
    orders = [{"image": row["image"], "title": row["title"], "labels": {"occasion": "work"}}
              for row in catalog.rows[3:6]]
    return [catalog, LoraSource("trend", trend, 0.3), LoraSource("orders", orders, 0.2)]


@pytest.fixture(scope="module")
def straight(sources: list[LoraSource], tmp_path_factory: pytest.TempPathFactory):
    return train_lora(sources, tmp_path_factory.mktemp("straight"), CONFIG, progress=False)


def lora_tensors(run) -> dict[str, torch.Tensor]:
    return load_file(run.lora_path)


def test_captions_and_examples(sources: list[LoraSource]) -> None:
    catalog, trend, orders = sources
    row = catalog.rows[0]
    assert caption(row) == f"{row['title']}, {row['category']}"  # garment, colour and pattern are in the title
    assert caption(trend.rows[0]).endswith(", casual, #ootd #streetstyle")
    assert caption(orders.rows[0]) == f"{orders.rows[0]['title']}, work"
    example = load_example(trend.rows[0], 64)  # 80 x 48 -> 107 x 64 -> the middle 64 x 64
    assert example.pixels.shape == (3, 64, 64) and -1 <= example.pixels.min() < example.pixels.max() <= 1
    assert (example.original_size, example.crop_top_left) == ((48, 80), (0, 21))
    # plain: as a prompt naming no colour or pattern says it, what a LoRA's data should teach such prompts to draw
    assert load_example(row, 64, plain=True).caption == f"{article(row['garment'])} {row['garment']}"
    assert plain_caption({"labels": {"garment": "dress", "style": "casual"}}) == "a dress"
    assert plain_caption(trend.rows[0]) == plain_caption({"labels": {"garment": "unknown"}}) == "an outfit"


def test_the_mixture_draws_sources_by_weight(sources: list[LoraSource]) -> None:
    sampler = MixtureSampler(sources, seed=0)
    assert sampler.draw(3, 4) == MixtureSampler(sources, seed=0).draw(3, 4)
    names = {id(row): source.name for source in sources for row in source.rows}
    drawn = [names[id(row)] for step in range(500) for row in sampler.draw(step, 4)]
    shares = {source.name: drawn.count(source.name) / len(drawn) for source in sources}
    assert shares == pytest.approx({"catalog": 1 / 1.5, "trend": 0.3 / 1.5, "orders": 0.2 / 1.5}, abs=0.03)


def test_the_run_writes_a_lora_and_validation_images(straight) -> None:
    assert straight.lora_path.is_file() and len(straight.losses) == CONFIG.steps
    assert all(np.isfinite(straight.losses))
    assert [path.name for path in straight.validation_images] == [
        "step000004-0.png", "step000004-1.png", "step000008-0.png", "step000008-1.png"]
    assert all(Image.open(path).size == (64, 64) for path in straight.validation_images)


def test_the_same_seed_trains_the_same_lora(sources: list[LoraSource], straight, tmp_path: Path) -> None:
    again = train_lora(sources, tmp_path, CONFIG, progress=False)
    expected, got = lora_tensors(straight), lora_tensors(again)
    assert again.losses == straight.losses
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)


def test_an_interrupted_run_resumes_to_the_same_lora(sources: list[LoraSource], straight, tmp_path: Path) -> None:
    half = LoraTrainConfig(**{**CONFIG.__dict__, "steps": CONFIG.steps // 2})
    train_lora(sources, tmp_path, half, progress=False)
    resumed = train_lora(sources, tmp_path, CONFIG, progress=False)
    expected, got = lora_tensors(straight), lora_tensors(resumed)
    assert resumed.losses == straight.losses
    assert [p.name for p in resumed.validation_images] == [p.name for p in straight.validation_images]
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)


def test_the_fused_unet_is_the_base_plus_the_lora_delta(straight) -> None:
    from diffusers.utils import convert_unet_state_dict_to_peft
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    base = load_diffusers_pipeline("txt2img", "tiny").unet.state_dict()
    fused = load_diffusers_pipeline("txt2img", "tiny", lora=str(straight.lora_path), lora_scale=SCALE).unet.state_dict()
    saved = lora_tensors(straight)  # diffusers' format: unet.<layer>.lora.down.weight (A), .lora.up.weight (B)

    # The delta by hand: scale * alpha / rank * B @ A on each adapted layer.
    layers = [key.removeprefix("unet.").removesuffix(".lora.down.weight") for key in saved if ".lora.down." in key]
    delta = {f"{layer}.weight": SCALE * CONFIG.alpha / CONFIG.rank
             * saved[f"unet.{layer}.lora.up.weight"] @ saved[f"unet.{layer}.lora.down.weight"] for layer in layers}
    assert len(layers) == 16 * len(LORA_TARGETS)  # every attention projection of the tiny UNet, none else
    changed = {key for key in base if not torch.equal(base[key], fused[key])}
    assert changed == set(delta)
    assert max(float((fused[k] - base[k] - delta[k]).abs().max()) for k in delta) < 1e-5
    assert max(float(d.abs().max()) for d in delta.values()) > 1e-3  # training moved B away from zero

    # peft's own merge of the same weights into a fresh base UNet (the scale folded into alpha).
    model = get_peft_model(load_diffusers_pipeline("txt2img", "tiny").unet, LoraConfig(
        r=CONFIG.rank, lora_alpha=SCALE * CONFIG.alpha, target_modules=list(LORA_TARGETS)))
    peft_state = convert_unet_state_dict_to_peft({key.replace("unet.", "base_model.model.", 1): value
                                                  for key, value in saved.items()})
    assert not set_peft_model_state_dict(model, peft_state).unexpected_keys
    merged = model.merge_and_unload().state_dict()
    assert merged.keys() == fused.keys()
    assert max(float((merged[k] - fused[k]).abs().max()) for k in fused) < 1e-5


def test_the_exported_unet_serves_the_fused_lora(straight, tmp_path: Path) -> None:
    from atelier.diffusion.networks import OnnxNetworks
    from export.diffusion import TorchNetworks, export_pipelines
    from tests.conftest import copy_repository

    repository = copy_repository(tmp_path / "repository")
    export_pipelines(repository, "tiny", ("txt2img",), lora=str(straight.lora_path), lora_scale=SCALE)
    rng = np.random.default_rng(0)
    inputs = {"sample": rng.standard_normal((1, 4, 8, 8), dtype=np.float32),
              "timestep": np.array([500.0], np.float32),
              "encoder_hidden_states": rng.standard_normal((1, 77, 64), dtype=np.float32),
              "text_embeds": rng.standard_normal((1, 32), dtype=np.float32),
              "time_ids": np.array([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]], np.float32)}
    onnx = OnnxNetworks(repository)("sdxl_unet", inputs, ["noise_pred"])[0]
    fused = load_diffusers_pipeline("txt2img", "tiny", lora=str(straight.lora_path), lora_scale=SCALE)
    assert np.abs(onnx - TorchNetworks("txt2img", fused)("sdxl_unet", inputs, ["noise_pred"])[0]).max() < 1e-4
    base = TorchNetworks("txt2img", load_diffusers_pipeline("txt2img", "tiny"))("sdxl_unet", inputs, ["noise_pred"])[0]
    assert np.abs(onnx - base).max() > 1e-3


def test_train_lora_then_export_it_from_the_command_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    catalog = write_catalog(tmp_path / "catalog", count=6, size=64, progress=False)
    env = {**os.environ, "ATELIER_HOME": str(tmp_path / "home"), "ATELIER_PROFILE": "tiny"}

    def atelier(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return result

    bought = [row["id"] for row in catalog_source(catalog).rows[:2]]
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps([{"product_id": product, "quantity": 1} for product in bought]))
    atelier("shopper", "import", "Ana", str(orders))
    trained = atelier("train", "lora", "--catalog", str(catalog), "--orders", "Ana", "--steps", "2")
    lora = Path(trained.stdout.strip())
    assert lora.is_file() and "--only txt2img --lora" in trained.stderr
    from tests.conftest import copy_repository

    repository = copy_repository(tmp_path / "repository")
    atelier("export", "--only", "txt2img", "--lora", str(lora), "--model-repository", str(repository))
    record = (repository / "txt2img" / "1" / "export.json").read_text()
    assert str(lora) in record
