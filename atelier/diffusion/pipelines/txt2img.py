"""txt2img: SDXL text-to-image, as StableDiffusionXLPipeline.__call__ (no refiner, no guidance rescale).

The loop reads top to bottom like its diffusers pipeline (encode prompt, prepare latents, denoise, decode) and
makes the same calls in the same order, random draws included, so that with the same weights, scheduler and
seed it returns diffusers' image. On purpose, a batch holds many requests, each with its own seed (one
torch.Generator per request), and prompts longer than the tokenizer's context are refused, not truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTokenizer

from atelier.diffusion.inputs import guidance_scale, seed, side, steps, text
from atelier.diffusion.networks import Networks
from atelier.diffusion.pipelines.base import Pipeline, exported_folder


@dataclass(frozen=True)
class Txt2ImgRequest:
    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance_scale: float
    width: int
    height: int

    @property
    def output_size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def batch_key(self) -> tuple:
        return (self.width, self.height, self.steps, self.guidance_scale)

    @property
    def megapixel_steps(self) -> float:
        return self.steps * self.width * self.height / 1e6


def txt2img_request(values: dict[str, Any], tokenizer, defaults: dict, max_side: int) -> Txt2ImgRequest:
    return Txt2ImgRequest(
        prompt=text(values.get("prompt"), "prompt", tokenizer),
        negative_prompt=text(values.get("negative_prompt"), "negative_prompt", tokenizer, required=False),
        seed=seed(values.get("seed")),
        steps=steps(values, defaults),
        guidance_scale=guidance_scale(values, defaults),
        width=side(values.get("width"), "width", defaults["width"], max_side),
        height=side(values.get("height"), "height", defaults["height"], max_side),
    )


class Text2Image(Pipeline):
    """StableDiffusionXLPipeline.__call__ (no refiner, no guidance rescale)."""

    kind = "txt2img"

    def __init__(self, version_dir: Path, networks: Networks, scheduler: str) -> None:
        super().__init__(version_dir, networks, scheduler)
        self.tokenizer_2 = CLIPTokenizer.from_pretrained(exported_folder(version_dir, "tokenizer_2"))

    def parse(self, values: dict[str, Any]) -> Txt2ImgRequest:
        return txt2img_request(values, self.tokenizer, self.defaults, self.max_side)

    def encode_prompts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Both encoders' penultimate hidden states, concatenated, and encoder 2's pooled projection."""
        (hidden_1,) = self.networks(self.network("text_encoder"), {"input_ids": self.token_ids(texts)},
                                    ["hidden_states"])
        hidden_2, pooled = self.networks(self.network("text_encoder_2"),
                                         {"input_ids": self.token_ids(texts, self.tokenizer_2)},
                                         ["hidden_states", "text_embeds"])
        return torch.from_numpy(np.concatenate([hidden_1, hidden_2], axis=-1)), torch.from_numpy(pooled)

    def negative_embeddings(self, batch: list[Txt2ImgRequest], embeds, pooled):
        """Zeros for requests without a negative prompt (SDXL's force_zeros_for_empty_prompt)."""
        zeros = self.spec.force_zeros_for_empty_prompt
        negative, negative_pooled = torch.zeros_like(embeds), torch.zeros_like(pooled)
        to_encode = [i for i, r in enumerate(batch) if r.negative_prompt is not None or not zeros]
        if to_encode:
            encoded, encoded_pooled = self.encode_prompts([batch[i].negative_prompt or "" for i in to_encode])
            negative[to_encode], negative_pooled[to_encode] = encoded, encoded_pooled
        return negative, negative_pooled

    @torch.no_grad()
    def __call__(self, batch: list[Txt2ImgRequest]) -> list[np.ndarray]:
        first, size = batch[0], len(batch)
        guidance = first.guidance_scale
        cfg = guidance > 1.0
        # 1. Encode prompts; the unconditional half comes first.
        embeds, pooled = self.encode_prompts([r.prompt for r in batch])
        time_ids = torch.tensor([[first.height, first.width, 0, 0, first.height, first.width]], dtype=torch.float32)
        if cfg:
            negative, negative_pooled = self.negative_embeddings(batch, embeds, pooled)
            embeds, pooled = torch.cat([negative, embeds]), torch.cat([negative_pooled, pooled])
        time_ids = time_ids.repeat(len(embeds), 1)
        # 2. Timesteps and initial noise, one generator per request.
        scheduler = self.new_scheduler()
        scheduler.set_timesteps(first.steps)
        generators = self.generators(batch)
        shape = (size, self.latent_channels, first.height // self.vae_scale_factor,
                 first.width // self.vae_scale_factor)
        latents = randn_tensor(shape, generator=generators) * scheduler.init_noise_sigma
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(0)
        extra = self.step_kwargs(scheduler, generators)
        # 3. Denoise.
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2) if cfg else latents, t)
            noise = self.unet(model_input, t, embeds, text_embeds=pooled, time_ids=time_ids)
            if cfg:
                uncond, text = noise.chunk(2)
                noise = uncond + guidance * (text - uncond)
            latents = scheduler.step(noise, t, latents, **extra, return_dict=False)[0]
        # 4. Decode.
        return self.decode(latents)


PIPELINE = Text2Image  # what load_pipeline builds for an export of this family
