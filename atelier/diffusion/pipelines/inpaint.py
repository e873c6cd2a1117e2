"""inpaint: SD inpainting, as StableDiffusionInpaintPipeline.__call__ for a 9-channel UNet (the same calls and
random draws), then the result is pasted back into the original at its original size
(atelier.images.paste_back)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.image_processor import VaeImageProcessor
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from atelier.diffusion.inputs import guidance_scale, input_image, number, seed, steps, text
from atelier.diffusion.networks import Networks
from atelier.diffusion.pipelines.base import Pipeline
from atelier.images import binary_mask, decode_image, paste_back


@dataclass(frozen=True)
class InpaintRequest:
    image: Image.Image
    mask: Image.Image  # binary, the image's size
    size: tuple[int, int]
    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance_scale: float
    strength: float

    @property
    def output_size(self) -> tuple[int, int]:
        return self.image.size  # pasted back into the original

    @property
    def mask_is_empty(self) -> bool:
        return self.mask.getextrema()[1] == 0

    def batch_key(self) -> tuple:
        return (self.size, self.steps, self.guidance_scale, self.strength)

    @property
    def megapixel_steps(self) -> float:
        return int(self.steps * self.strength) * self.size[0] * self.size[1] / 1e6  # strength skips the first steps


def inpaint_request(values: dict[str, Any], tokenizer, defaults: dict, max_side: int) -> InpaintRequest:
    prompt = text(values.get("prompt"), "prompt", tokenizer)
    image, size = input_image(values.get("image"), max_side)
    mask = binary_mask(decode_image(values.get("mask") or b"", "mask"), image.size)
    denoising_steps = steps(values, defaults)
    strength = number(values.get("strength"), "strength", defaults["strength"], 0, 1, low_open=True)
    if int(denoising_steps * strength) < 1:
        raise ValueError(f"steps x strength must be at least 1 denoising step (got {denoising_steps} x {strength:g})")
    return InpaintRequest(
        image=image, mask=mask, size=size, prompt=prompt,
        negative_prompt=text(values.get("negative_prompt"), "negative_prompt", tokenizer, required=False),
        seed=seed(values.get("seed")), steps=denoising_steps, guidance_scale=guidance_scale(values, defaults),
        strength=strength,
    )


class Inpaint(Pipeline):
    """StableDiffusionInpaintPipeline.__call__ for a 9-channel UNet, then paste-back into the original."""

    kind = "inpaint"

    def __init__(self, version_dir: Path, networks: Networks, scheduler: str) -> None:
        super().__init__(version_dir, networks, scheduler)
        self.mask_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor, do_normalize=False,
                                                do_binarize=True, do_convert_grayscale=True)

    def parse(self, values: dict[str, Any]) -> InpaintRequest:
        return inpaint_request(values, self.tokenizer, self.defaults, self.max_side)

    def sample_latents(self, image: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        """VAE latents sampled from the encoder's Gaussian, each request with its own generator."""
        moments = self.vae_moments(image)
        samples = [DiagonalGaussianDistribution(moments[i : i + 1]).sample(generator)
                   for i, generator in enumerate(generators)]
        return torch.cat(samples) * self.scaling_factor

    @torch.no_grad()
    def __call__(self, batch: list[InpaintRequest]) -> list[np.ndarray]:
        todo = [r for r in batch if not r.mask_is_empty]
        generated = iter(self.generate(todo) if todo else [])
        # An empty mask repaints nothing: the input comes back as it was.
        return [np.asarray(r.image) if r.mask_is_empty else next(generated) for r in batch]

    def generate(self, batch: list[InpaintRequest]) -> list[np.ndarray]:
        first, size = batch[0], len(batch)
        guidance, strength = first.guidance_scale, first.strength
        cfg = guidance > 1.0
        width, height = first.size
        # 1. Prompt embeddings; the unconditional half comes first.
        embeds = self.encode_text([r.prompt for r in batch])
        if cfg:
            embeds = torch.cat([self.encode_text([r.negative_prompt or "" for r in batch]), embeds])
        # 2. Timesteps, cut by strength.
        scheduler = self.new_scheduler()
        scheduler.set_timesteps(first.steps)
        kept = min(int(first.steps * strength), first.steps)
        start = max(first.steps - kept, 0) * scheduler.order
        timesteps = scheduler.timesteps[start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        # 3. Initial latents: pure noise at full strength, else the image's latents noised to the first step.
        init_image = self.image_processor.preprocess([r.image for r in batch], height=height, width=width)
        generators = self.generators(batch)
        shape = (size, self.latent_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        if strength == 1.0:
            latents = randn_tensor(shape, generator=generators) * scheduler.init_noise_sigma
        else:
            image_latents = self.sample_latents(init_image, generators)
            noise = randn_tensor(shape, generator=generators)
            latents = scheduler.add_noise(image_latents, noise, timesteps[:1].repeat(size))
        # 4. The mask at latent size and the latents of the image with the masked part blanked.
        mask = self.mask_processor.preprocess([r.mask for r in batch], height=height, width=width)
        masked_image_latents = self.sample_latents(init_image * (mask < 0.5), generators)
        mask = torch.nn.functional.interpolate(mask, size=shape[-2:])
        if cfg:
            mask, masked_image_latents = torch.cat([mask] * 2), torch.cat([masked_image_latents] * 2)
        extra = self.step_kwargs(scheduler, generators)
        # 5. Denoise.
        for t in timesteps:
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2) if cfg else latents, t)
            noise = self.unet(torch.cat([model_input, mask, masked_image_latents], dim=1), t, embeds)
            if cfg:
                uncond, text = noise.chunk(2)
                noise = uncond + guidance * (text - uncond)
            latents = scheduler.step(noise, t, latents, **extra, return_dict=False)[0]
        # 6. Decode, then keep every original pixel outside the mask (feathered inside it).
        return [np.asarray(paste_back(r.image, Image.fromarray(image), r.mask, inside_only=True))
                for r, image in zip(batch, self.decode(latents))]


PIPELINE = Inpaint  # what load_pipeline builds for an export of this family
