"""inpaint: SD inpainting, a UNet whose 9 input channels are the noisy latents, the mask and the masked image's
latents. tiny: toy widths."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline
from transformers import CLIPTextModel

from models.diffusion import components as c


def build(source: str | None) -> StableDiffusionInpaintPipeline:
    if source is None:
        return tiny()
    return StableDiffusionInpaintPipeline.from_pretrained(source, torch_dtype=torch.float32, safety_checker=None,
                                                          requires_safety_checker=False)


def tiny_scheduler() -> DDIMScheduler:
    return DDIMScheduler(**c.SCHEDULE, steps_offset=1, clip_sample=False, set_alpha_to_one=False)


def tiny() -> StableDiffusionInpaintPipeline:
    torch.manual_seed(c.TINY_SEED)
    return StableDiffusionInpaintPipeline(
        vae=c.tiny_vae(0.18215), text_encoder=CLIPTextModel(c.tiny_text_config()), tokenizer=c.clip_tokenizer(),
        unet=c.tiny_sd_unet(9), scheduler=tiny_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def networks(pipe: StableDiffusionInpaintPipeline, size: int, generator: torch.Generator) -> dict[str, c.Traced]:
    return {"text_encoder": c.text_encoder(pipe.text_encoder, pipe.tokenizer), "unet": c.unet(pipe, size, generator),
            "vae_encoder": c.vae_encoder(pipe, size, generator), "vae_decoder": c.vae_decoder(pipe, size, generator)}
