"""tryon: virtual try-on after CatVTON's pipeline (there is no diffusers one); see TryOn."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.image_processor import VaeImageProcessor
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from atelier.diffusion.inputs import NO_MASK, garment_type, guidance_scale, input_image, seed, steps
from atelier.diffusion.networks import Networks
from atelier.diffusion.parsing import load_human_parser_if_exported
from atelier.diffusion.pipelines.base import Pipeline, to_numpy
from atelier.images import binary_mask, decode_image, paste_back


@dataclass(frozen=True)
class TryOnRequest:
    person: Image.Image
    garment: Image.Image
    mask: Image.Image  # binary, the person photo's size; white = where the garment goes
    garment_type: str
    size: tuple[int, int]  # the person photo's processing size
    seed: int
    steps: int
    guidance_scale: float

    @property
    def output_size(self) -> tuple[int, int]:
        return self.person.size  # pasted back into the original photo

    def batch_key(self) -> tuple:
        return (self.size, self.steps, self.guidance_scale, self.garment_type)  # pre-warping depends on the type

    @property
    def megapixel_steps(self) -> float:
        return self.steps * 2 * self.size[0] * self.size[1] / 1e6  # the garment is denoised beside the person


def tryon_request(values: dict[str, Any], defaults: dict, max_side: int,
                  parser: Callable[[Image.Image, str], Image.Image] | None = None) -> TryOnRequest:
    """`parser(person, garment_type) -> mask` derives the mask when none is given, where one is configured. A
    network trained at one size says so in `defaults["processing_side"]`: the person is processed within it and the
    result pasted back into the photo at its own size."""
    person, size = input_image(values.get("person"), int(defaults.get("processing_side", max_side)), "person")
    garment, _ = input_image(values.get("garment"), max_side, "garment")
    kind = garment_type(values.get("garment_type"))
    if values.get("mask"):
        mask = binary_mask(decode_image(values["mask"], "mask"), person.size)
    elif parser is not None:
        mask = parser(person, kind)
    else:
        raise ValueError(f"{NO_MASK}: paint the area the garment should cover and send it as `mask` "
                         "(white = replace)")
    if mask.getextrema()[1] == 0:
        raise ValueError("the mask is empty: paint the area the garment should cover (white = replace)")
    return TryOnRequest(person=person, garment=garment, mask=mask, garment_type=kind, size=size,
                        seed=seed(values.get("seed")), steps=steps(values, defaults),
                        guidance_scale=guidance_scale(values, defaults))


class TryOn(Pipeline):
    """CatVTONPipeline.__call__: person and garment side by side in one latent, no text, then paste-back.

    The masked person's latents and the garment's are concatenated along the height, the mask along
    with zeros for the garment half, and the 9-channel inpainting UNet (cross-attention skipped)
    denoises the pair; the person half is decoded. Guidance drops the garment (zeros in its place).
    Two optional networks switch on by being in the repository: `tryon_warp` (`atelier export --only
    warping`) first bends an upper-body garment onto the person's pose, as in CP-VTON and
    Ladi-VTON's first stage (it is trained on tops only); `tryon_parser` (`--only parser`) derives
    the mask of a request that sends none.
    Unlike CatVTON, the VAE latents are the Gaussian's mode rather than a sample, so a seed alone
    fixes the result, and the original photo keeps every pixel outside the (feathered) mask.
    """

    kind = "tryon"
    concat_dim = -2  # CatVTON stacks person over garment
    eta = 1.0  # CatVTON's DDIM eta

    def __init__(self, version_dir: Path, networks: Networks, scheduler: str) -> None:
        super().__init__(version_dir, networks, scheduler)
        repository = Path(version_dir).parent.parent
        self.parser = load_human_parser_if_exported(repository, networks)
        warp = repository / "tryon_warp" / "1" / "warp.json"
        self.warp_size = tuple(json.loads(warp.read_text())["size"]) if warp.exists() else None
        self.mask_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor, do_normalize=False,
                                                do_binarize=True, do_convert_grayscale=True)

    def parse(self, values: dict[str, Any]) -> TryOnRequest:
        return tryon_request(values, self.defaults, self.max_side, self.parser)

    def latents(self, image: torch.Tensor) -> torch.Tensor:
        return DiagonalGaussianDistribution(self.vae_moments(image)).mode() * self.scaling_factor

    @staticmethod
    def padded(garment: Image.Image, size: tuple[int, int]) -> Image.Image:
        """The garment scaled to fit `size` whole and centred on white, as CatVTON's resize_and_padding."""
        scale = min(size[0] / garment.width, size[1] / garment.height)
        fitted = garment.resize((max(1, round(garment.width * scale)), max(1, round(garment.height * scale))),
                                Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", size, (255, 255, 255))
        canvas.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
        return canvas

    def prewarped(self, garment: torch.Tensor, person: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The garment bent onto the person: `tryon_warp` finds the warp at its own size, and the sampling grid,
        scaled up, is applied to the full-resolution garment (training/warping.py's `warp`)."""
        interpolate = torch.nn.functional.interpolate

        def small(image: torch.Tensor) -> torch.Tensor:
            return interpolate(image, size=self.warp_size, mode="bilinear", antialias=True)

        small_mask = interpolate(mask, size=self.warp_size, mode="nearest")
        gmm_inputs = {"agnostic": small(person) * (1 - small_mask), "mask": small_mask, "cloth": small(garment)}
        (grid,) = self.networks("tryon_warp", {k: to_numpy(v) for k, v in gmm_inputs.items()}, ["grid"])
        grid = interpolate(torch.from_numpy(grid).permute(0, 3, 1, 2), size=tuple(garment.shape[-2:]),
                           mode="bilinear", align_corners=True).permute(0, 2, 3, 1)
        return torch.nn.functional.grid_sample(garment, grid, mode="bilinear", padding_mode="border",
                                               align_corners=True)

    @torch.no_grad()
    def __call__(self, batch: list[TryOnRequest]) -> list[np.ndarray]:
        first, size = batch[0], len(batch)
        guidance = first.guidance_scale
        cfg = guidance > 1.0
        width, height = first.size
        # 1. The person with the garment area blanked, the garment padded to the same size, the mask.
        person = self.image_processor.preprocess([r.person for r in batch], height=height, width=width)
        garment = self.image_processor.preprocess([self.padded(r.garment, first.size) for r in batch],
                                                  height=height, width=width)
        mask = self.mask_processor.preprocess([r.mask for r in batch], height=height, width=width)
        if self.warp_size and first.garment_type == "upper":
            garment = self.prewarped(garment, person, mask)
        masked_latents, garment_latents = self.latents(person * (mask < 0.5)), self.latents(garment)
        mask = torch.nn.functional.interpolate(mask, size=masked_latents.shape[-2:], mode="nearest")
        # 2. Side by side: [masked person | garment], [mask | nothing to repaint].
        condition = torch.cat([masked_latents, garment_latents], dim=self.concat_dim)
        mask = torch.cat([mask, torch.zeros_like(mask)], dim=self.concat_dim)
        if cfg:  # the unconditional half sees no garment
            unconditional = torch.cat([masked_latents, torch.zeros_like(garment_latents)], dim=self.concat_dim)
            condition, mask = torch.cat([unconditional, condition]), torch.cat([mask] * 2)
        # 3. Timesteps and noise, one generator per request.
        scheduler = self.new_scheduler()
        scheduler.set_timesteps(first.steps)
        generators = self.generators(batch)
        latents = randn_tensor(tuple(condition[:size].shape), generator=generators) * scheduler.init_noise_sigma
        extra = self.step_kwargs(scheduler, generators)
        # 4. Denoise.
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2) if cfg else latents, t)
            noise = self.unet(torch.cat([model_input, mask, condition], dim=1), t, None)
            if cfg:
                uncond, cond = noise.chunk(2)
                noise = uncond + guidance * (cond - uncond)
            latents = scheduler.step(noise, t, latents, **extra, return_dict=False)[0]
        # 5. Decode the person half, then keep every original pixel outside the mask (feathered inside it).
        latents = latents.split(latents.shape[self.concat_dim] // 2, dim=self.concat_dim)[0]
        return [np.asarray(paste_back(r.person, Image.fromarray(image), r.mask, inside_only=True))
                for r, image in zip(batch, self.decode(latents))]


PIPELINE = TryOn  # what load_pipeline builds for an export of this family
