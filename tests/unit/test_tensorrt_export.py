"""`atelier export --trt`: optimisation profiles from the committed configs, the config switch and its undoing,
and the fall-back to ONNX on a machine without TensorRT or a GPU (this one). Building an engine needs a GPU:
docs/tensorrt.md describes that check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2

from atelier.config import REPO_ROOT, AtelierError
from atelier.diffusion.exported import Build, PipelineRecord, Vae
from atelier.families import FAMILIES, MODEL_PROFILES, PIPELINES
from atelier.model_repository import read_config, read_config_text, tensorrt_models
from atelier.triton_server import EmbeddedTriton
from cli.main import main
from export.tensorrt import (
    RECORD,
    Range,
    optimisation_profile,
    pipeline_ranges,
    restore_onnx_configs,
    tensorrt_config,
)
from tests.conftest import copy_repository

COMMITTED = REPO_ROOT / "model_repository"
# The inputs as export/diffusion.py and export/clip.py write them (tiny sizes for the fixed dimensions).
UNET_INPUTS = {"sample": ["batch", 4, "height", "width"], "timestep": ["batch"],
               "encoder_hidden_states": ["batch", 77, 64], "text_embeds": ["batch", 32], "time_ids": ["batch", 6]}


def spec(kind: str, profile: str) -> PipelineRecord:
    """What export.json records for `kind` (SD and SDXL VAEs scale by 8)."""
    return PipelineRecord(kind, Build(profile), "", [], FAMILIES[kind].prefix, Vae(8, 0.18215, 4), False,
                          MODEL_PROFILES[profile].defaults[kind], MODEL_PROFILES[profile].max_side)


def ranges(kind: str, profile: str) -> dict[str, dict[str, Range]]:
    rows = read_config(COMMITTED / kind / "config.pbtxt").max_batch_size
    return pipeline_ranges(kind, rows, spec(kind, profile))


@pytest.mark.parametrize("profile", ["tiny", "full"])
@pytest.mark.parametrize("kind", PIPELINES)
def test_profiles_cover_what_the_pipelines_send(kind: str, profile: str) -> None:
    rows = read_config(COMMITTED / kind / "config.pbtxt").max_batch_size
    networks = ranges(kind, profile)
    for name, dims in networks.items():
        for dim in dims.values():
            assert 1 <= dim.min <= dim.opt <= dim.max, (name, dims)
    prefix = FAMILIES[kind].prefix
    unet, decoder, encoder = (networks[f"{prefix}_{role}"] for role in ("unet", "vae_decoder", "vae_encoder"))
    multiplier = {"txt2img": 2, "edit": 3, "inpaint": 2, "tryon": 2}[kind]  # guidance's extra rows
    assert unet["batch"] == Range(1, multiplier, multiplier * rows)
    assert decoder["batch"] == encoder["batch"] == networks[f"{prefix}_text_encoder"]["batch"] == Range(1, 1, rows)
    pixels = encoder["width"]
    assert pixels.max == MODEL_PROFILES[profile].max_side
    assert decoder["width"] == Range(pixels.min // 8, pixels.opt // 8, pixels.max // 8)  # latents: pixels / 8
    assert unet["width"] == decoder["width"]
    stacked = 2 if kind == "tryon" else 1  # try-on stacks person and garment along the height
    assert unet["height"] == Range(*(stacked * getattr(decoder["height"], end) for end in ("min", "opt", "max")))


def test_full_sdxl_is_tuned_for_one_guided_1024_pixel_request() -> None:
    unet = ranges("txt2img", "full")["sdxl_unet"]
    assert unet == {"batch": Range(1, 2, 16), "height": Range(8, 128, 192), "width": Range(8, 128, 192)}
    assert ranges("txt2img", "tiny")["sdxl_unet"]["height"] == Range(8, 32, 64)
    assert ranges("edit", "full")["pix2pix_unet"]["batch"] == Range(1, 3, 24)
    # An input photo is fitted within max_side in multiples of 8: a long, thin one keeps an 8-pixel side.
    assert ranges("inpaint", "full")["inpaint_vae_encoder"]["width"] == Range(8, 1024, 1536)


def test_optimisation_profile_follows_the_onnx_shapes_and_the_config() -> None:
    config = read_config(COMMITTED / "sdxl_unet" / "config.pbtxt")
    shapes = optimisation_profile(UNET_INPUTS, ranges("txt2img", "full")["sdxl_unet"], config)
    assert shapes["sample"] == ((1, 4, 8, 8), (2, 4, 128, 128), (16, 4, 192, 192))
    assert shapes["encoder_hidden_states"] == ((1, 77, 64), (2, 77, 64), (16, 77, 64))
    assert shapes["time_ids"] == ((1, 6), (2, 6), (16, 6))
    with pytest.raises(ValueError, match="does not fit the config"):  # 5 time ids where the config says 6
        optimisation_profile({**UNET_INPUTS, "time_ids": ["batch", 5]}, ranges("txt2img", "full")["sdxl_unet"],
                             config)
    with pytest.raises(ValueError, match="no range"):
        optimisation_profile({"sample": ["batch", 4, "frames", "width"]}, ranges("txt2img", "full")["sdxl_unet"],
                             config)
    clip = read_config(COMMITTED / "clip_image_encoder" / "config.pbtxt")  # batched by Triton: dims leave it out
    assert optimisation_profile({"pixel_values": ["batch", 3, 224, 224]}, {"batch": Range(1, 1, 64)}, clip) == {
        "pixel_values": ((1, 3, 224, 224), (1, 3, 224, 224), (64, 3, 224, 224))}


def test_the_tensorrt_config_keeps_every_tensor_and_runs_on_the_gpu() -> None:
    networks = [path for path in sorted(COMMITTED.glob("*/config.pbtxt")) if read_config(path).backend == "onnxruntime"]
    assert len(networks) == 17
    for path in networks:
        before, after = read_config(path), read_config_text(tensorrt_config(path.read_text()))
        assert after.backend == "tensorrt"
        assert after.input == before.input and after.output == before.output
        assert after.max_batch_size == before.max_batch_size and after.dynamic_batching == before.dynamic_batching
        gpu = model_config_pb2.ModelInstanceGroup.KIND_GPU  # where none is set Triton takes the GPU
        assert [group.kind for group in after.instance_group] == [gpu] * len(before.instance_group)
    with pytest.raises(ValueError):
        tensorrt_config((COMMITTED / "txt2img" / "config.pbtxt").read_text())  # a Python model has no engine


def test_export_puts_back_the_onnx_config_of_an_engine_it_replaces(tmp_path: Path) -> None:
    repository = copy_repository(tmp_path / "repo")
    model = repository / "sdxl_unet"
    original = (model / "config.pbtxt").read_text()
    (model / "1").mkdir(exist_ok=True)
    (model / "1" / "model.plan").write_bytes(b"engine")
    (model / "1" / RECORD).write_text(json.dumps({"onnxruntime_config": original}))
    (model / "config.pbtxt").write_text(tensorrt_config(original))
    assert tensorrt_models(repository) == ["sdxl_unet"]

    with pytest.raises(AtelierError, match=r"sdxl_unet are TensorRT engines .* only NGC Triton on a GPU serves"):
        EmbeddedTriton(repository, tmp_path / "runtime")._check_can_start()  # the embedded server has no TensorRT

    assert restore_onnx_configs(repository, ["clip", "edit"]) == []  # other families' engines stay
    assert restore_onnx_configs(repository, ["txt2img"]) == ["sdxl_unet"]
    assert (model / "config.pbtxt").read_text() == original
    assert not (model / "1" / "model.plan").exists() and not (model / "1" / RECORD).exists()
    assert tensorrt_models(repository) == []


def test_export_trt_without_tensorrt_or_a_gpu_keeps_onnx(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    repository = copy_repository(tmp_path / "repo")
    configs = {path: path.read_text() for path in repository.glob("*/config.pbtxt")}
    assert main(["export", "--profile", "tiny", "--only", "clip", "--trt", "--model-repository", str(repository)]) == 0
    err = capsys.readouterr().err
    assert "atelier: --trt: " in err and "keeping the ONNX models (backend onnxruntime)" in err
    for name in ("clip_image_encoder", "clip_text_encoder"):
        assert (repository / name / "1" / "model.onnx").exists()
        assert not (repository / name / "1" / "model.plan").exists()
    assert {path: path.read_text() for path in repository.glob("*/config.pbtxt")} == configs
    assert tensorrt_models(repository) == []
