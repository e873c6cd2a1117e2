"""The generation models' per-request budget, and Triton's load failures as the start-up error names them."""

from __future__ import annotations

import pytest

from atelier.diffusion.inputs import check_work
from atelier.diffusion.pipelines.edit import EditRequest
from atelier.diffusion.pipelines.inpaint import InpaintRequest
from atelier.diffusion.pipelines.txt2img import Txt2ImgRequest
from atelier.triton_server import load_failures


def txt2img(steps: int, side: int) -> Txt2ImgRequest:
    return Txt2ImgRequest("a dress", None, 0, steps, 5.0, side, side)


def test_the_budget_counts_rows_steps_and_pixels():
    assert txt2img(20, 512).megapixel_steps == pytest.approx(20 * 512 * 512 / 1e6)
    check_work([txt2img(100, 512)] * 2, limit=60)  # 52.4
    with pytest.raises(ValueError, match=r"asks for 78\.6 megapixel-steps .* at most 60 in one request"):
        check_work([txt2img(100, 512)] * 3, limit=60)


def test_inpaint_counts_only_the_steps_its_strength_runs_and_edit_its_processing_size():
    inpaint = InpaintRequest(None, None, (512, 512), "dots", None, 0, 50, 7.5, 0.5)
    assert inpaint.megapixel_steps == pytest.approx(25 * 512 * 512 / 1e6)
    edit = EditRequest(None, (256, 512), "navy", 0, 10, 7.5, 1.5)
    assert edit.megapixel_steps == pytest.approx(10 * 256 * 512 / 1e6)


LOG = "\n".join([  # Triton's lines, the reason's own line breaks escaped as \n
    'I1206 17:19:46.1 1 model_lifecycle.cc:472] "loading: clip_text:1"',
    "E1206 17:19:46.5 1 model_lifecycle.cc:642] \"failed to load 'sdxl_unet' version 1: Internal: InvalidProtobuf: "
    "Load model from /r/sdxl_unet/1/model.onnx failed:Protobuf parsing failed.\\n\\nAt:\\n  ort.py(753)\"",
    "E1206 17:19:51.8 1 model_lifecycle.cc:642] \"failed to load 'edit' version 1: Internal: FileNotFoundError: "
    "/r/edit/1/scheduler is missing\"",
    "I1206 17:19:51.8 1 model_lifecycle.cc:777] \"failed to load 'edit'\"",
])


def test_load_failures_are_read_from_tritons_log_one_line_each():
    assert load_failures(LOG) == {
        "sdxl_unet": "InvalidProtobuf: Load model from /r/sdxl_unet/1/model.onnx failed:Protobuf parsing failed.",
        "edit": "FileNotFoundError: /r/edit/1/scheduler is missing",
    }
    assert load_failures("I1206 all models loaded\n") == {}


def test_the_weights_a_generation_model_runs_are_told_from_its_export_record():
    from atelier.diffusion.exported import Build, weights

    def build(**given):
        return Build(**{"profile": "tiny", "source": None, "lora": None, "lora_scale": 1.0, "attention": None,
                        **given})

    assert weights(build()) == weights(build()) and not weights(build()).learned
    assert weights(build()).text == "tiny network, random weights"
    assert weights(build(lora="/m/trends.safetensors")).text == \
        "tiny network, random weights, LoRA trained (trends.safetensors)"
    assert not weights(build(lora="/m/trends.safetensors")).learned  # a LoRA over a random base draws noise too
    full = weights(build(profile="full", lora="/m/trends.safetensors", lora_scale=0.8))
    assert full.learned and full.text == \
        "full network, weights from the full profile's published checkpoint, LoRA trends.safetensors x0.8"
    assert weights(build(source="timbrooks/instruct-pix2pix")).text == \
        "tiny network, weights from timbrooks/instruct-pix2pix"
