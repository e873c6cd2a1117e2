"""edit: instruct-pix2pix, as StableDiffusionInstructPix2PixPipeline.__call__ (the same calls and random draws)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from atelier.diffusion.inputs import guidance_scale, input_image, number, seed, steps, text
from atelier.diffusion.pipelines.base import Pipeline

MAX_IMAGE_GUIDANCE = 10.0


@dataclass(frozen=True)
class EditRequest:
    image: Image.Image
    size: tuple[int, int]
    instruction: str
    seed: int
    steps: int
    guidance_scale: float
    image_guidance_scale: float

    @property
    def output_size(self) -> tuple[int, int]:
        return self.size

    def batch_key(self) -> tuple:
        return (self.size, self.steps, self.guidance_scale, self.image_guidance_scale)

    @property
    def megapixel_steps(self) -> float:
        return self.steps * self.size[0] * self.size[1] / 1e6


def edit_request(values: dict[str, Any], tokenizer, defaults: dict, max_side: int) -> EditRequest:
    instruction = text(values.get("instruction"), "instruction", tokenizer)
    image, size = input_image(values.get("image"), max_side)
    return EditRequest(
        image=image, size=size, instruction=instruction, seed=seed(values.get("seed")),
        steps=steps(values, defaults), guidance_scale=guidance_scale(values, defaults),
        image_guidance_scale=number(values.get("image_guidance_scale"), "image_guidance_scale",
                                    defaults["image_guidance_scale"], 0, MAX_IMAGE_GUIDANCE),
    )


class InstructEdit(Pipeline):
    """StableDiffusionInstructPix2PixPipeline.__call__: text guidance plus image guidance."""

    kind = "edit"

    def parse(self, values: dict[str, Any]) -> EditRequest:
        return edit_request(values, self.tokenizer, self.defaults, self.max_side)

    @torch.no_grad()
    def __call__(self, batch: list[EditRequest]) -> list[np.ndarray]:
        first, size = batch[0], len(batch)
        guidance, image_guidance = first.guidance_scale, first.image_guidance_scale
        cfg = guidance > 1.0 and image_guidance >= 1.0
        width, height = first.size
        # 1. Instruction embeddings: [instruction, empty, empty] for text, image and no guidance.
        embeds = self.encode_text([r.instruction for r in batch])
        if cfg:
            empty = self.encode_text([""] * size)
            embeds = torch.cat([embeds, empty, empty])
        # 2. The image's latents (the Gaussian's mode), zeros for the unconditional third.
        image = self.image_processor.preprocess([r.image for r in batch], height=height, width=width)
        scheduler = self.new_scheduler()
        scheduler.set_timesteps(first.steps)
        image_latents = DiagonalGaussianDistribution(self.vae_moments(image)).mode()
        if cfg:
            image_latents = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])
        # 3. Initial noise, one generator per request.
        generators = self.generators(batch)
        shape = (size, self.latent_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        latents = randn_tensor(shape, generator=generators) * scheduler.init_noise_sigma
        extra = self.step_kwargs(scheduler, generators)
        # 4. Denoise.
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(torch.cat([latents] * 3) if cfg else latents, t)
            noise = self.unet(torch.cat([model_input, image_latents], dim=1), t, embeds)
            if cfg:
                text, image_only, uncond = noise.chunk(3)
                noise = uncond + guidance * (text - image_only) + image_guidance * (image_only - uncond)
            latents = scheduler.step(noise, t, latents, **extra, return_dict=False)[0]
        return self.decode(latents)


PIPELINE = InstructEdit  # what load_pipeline builds for an export of this family
