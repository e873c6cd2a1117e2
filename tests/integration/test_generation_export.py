"""Export-side checks without Triton: LoRA fused into the SDXL UNet, and a configurable scheduler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from atelier.diffusion.exported import Build
from export.diffusion import export_pipeline, load_exported_pipeline
from models.diffusion import load_diffusers_pipeline

pytestmark = pytest.mark.integration


def unet_inputs(pipe) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"sample": torch.randn(1, 4, 8, 8, generator=gen), "timestep": torch.tensor([500.0]),
            "encoder_hidden_states": torch.randn(1, 77, pipe.unet.config.cross_attention_dim, generator=gen),
            "text_embeds": torch.randn(1, pipe.text_encoder_2.config.projection_dim, generator=gen),
            "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])}


def torch_unet(pipe, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    added = {"text_embeds": inputs["text_embeds"], "time_ids": inputs["time_ids"]}
    with torch.no_grad():
        return pipe.unet(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                         added_cond_kwargs=added).sample.numpy()


def test_a_lora_is_fused_into_the_exported_sdxl_unet(tmp_path: Path) -> None:
    from diffusers import StableDiffusionXLPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    # Stands in for our LoRA trainer: random, non-zero LoRA weights.
    trained = load_diffusers_pipeline("txt2img", "tiny")
    torch.manual_seed(1)
    trained.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                        target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionXLPipeline.save_lora_weights(tmp_path / "lora", unet_lora_layers=get_peft_model_state_dict(
        trained.unet))

    plain = load_diffusers_pipeline("txt2img", "tiny")
    fused = load_diffusers_pipeline("txt2img", "tiny", lora_scale=0.8,
                                    lora=str(tmp_path / "lora" / "pytorch_lora_weights.safetensors"))
    build = Build("tiny", None, str(tmp_path / "lora"), 0.8)
    to_export = load_diffusers_pipeline("txt2img", "tiny", lora=build.lora, lora_scale=0.8)
    record = export_pipeline("txt2img", to_export, tmp_path / "repo", build)
    assert max(record.onnx_vs_torch_max_abs.values()) < 1e-3

    inputs = unet_inputs(plain)
    session = ort.InferenceSession(str(tmp_path / "repo/sdxl_unet/1/model.onnx"))
    exported = session.run(["noise_pred"], {k: v.numpy() for k, v in inputs.items()})[0]
    assert np.abs(exported - torch_unet(fused, inputs)).max() < 1e-4
    assert np.abs(exported - torch_unet(plain, inputs)).max() > 1e-2  # the LoRA changed the UNet
    assert load_exported_pipeline(tmp_path / "repo", "txt2img") is not None  # rebuilt from export.json


def test_the_scheduler_is_configurable_and_still_matches_diffusers(model_repository: Path) -> None:
    from diffusers import DPMSolverMultistepScheduler

    from atelier.diffusion.networks import OnnxNetworks
    from atelier.diffusion.pipelines import load_pipeline

    networks = OnnxNetworks(model_repository)
    default = load_pipeline(model_repository / "txt2img/1", networks)
    dpm = load_pipeline(model_repository / "txt2img/1", networks, scheduler="dpmpp_2m")
    values = {"prompt": "a pleated midi skirt", "seed": 4, "steps": 5, "width": 64, "height": 64}
    ours = dpm([dpm.parse(values)])[0]
    assert np.abs(ours.astype(int) - default([default.parse(values)])[0].astype(int)).mean() > 1

    reference = load_exported_pipeline(model_repository, "txt2img")
    reference.scheduler = DPMSolverMultistepScheduler.from_config(reference.scheduler.config)
    expected = reference(prompt="a pleated midi skirt", num_inference_steps=5, guidance_scale=5.0, width=64,
                         height=64, generator=torch.Generator().manual_seed(4), output_type="np").images[0]
    assert np.abs(ours.astype(float) - (expected * 255).round()).mean() / 255 < 1 / 255
    with pytest.raises(ValueError, match="unknown scheduler 'plms'"):
        load_pipeline(model_repository / "txt2img/1", networks, scheduler="plms")
