"""edit: instruct-pix2pix, an SD UNet whose 8 input channels are the noisy latents and the image's. tiny: toy
widths."""

from __future__ import annotations

import torch
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline
from transformers import CLIPTextModel

from models.diffusion import components as c


def build(source: str | None) -> StableDiffusionInstructPix2PixPipeline:
    if source is None:
        return tiny()
    return StableDiffusionInstructPix2PixPipeline.from_pretrained(source, torch_dtype=torch.float32,
                                                                  safety_checker=None, requires_safety_checker=False)


def tiny() -> StableDiffusionInstructPix2PixPipeline:
    torch.manual_seed(c.TINY_SEED)
    return StableDiffusionInstructPix2PixPipeline(
        vae=c.tiny_vae(0.18215), text_encoder=CLIPTextModel(c.tiny_text_config()), tokenizer=c.clip_tokenizer(),
        unet=c.tiny_sd_unet(8), scheduler=EulerAncestralDiscreteScheduler(**c.SCHEDULE),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def networks(pipe: StableDiffusionInstructPix2PixPipeline, size: int,
             generator: torch.Generator) -> dict[str, c.Traced]:
    return {"text_encoder": c.text_encoder(pipe.text_encoder, pipe.tokenizer), "unet": c.unet(pipe, size, generator),
            "vae_encoder": c.vae_encoder(pipe, size, generator), "vae_decoder": c.vae_decoder(pipe, size, generator)}
