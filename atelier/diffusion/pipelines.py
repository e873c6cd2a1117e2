"""The txt2img (SDXL), edit (instruct-pix2pix), inpaint (SD inpainting) and tryon (CatVTON) loops over ONNX networks.

Each reads top to bottom like its diffusers pipeline (encode prompt, prepare latents, denoise,
decode) and makes the same calls in the same order, random draws included, so that with the same
weights, scheduler and seed it returns diffusers' image. Differences from diffusers, on purpose:
a batch holds many requests, each with its own seed (one torch.Generator per request); prompts
longer than the tokenizer's context are refused rather than truncated; inpainting pastes the
result back into the original at its original size (atelier.images.paste_back). Try-on has no
diffusers pipeline; it follows CatVTON's (see TryOn).

A pipeline is built from a Python model's version folder (export.json, tokenizers, scheduler
config written by `atelier export`) and a `Networks` that runs the ONNX models.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.image_processor import VaeImageProcessor
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from transformers import CLIPTokenizer

from atelier.diffusion import inputs
from atelier.diffusion.exported import PipelineRecord
from atelier.diffusion.networks import Networks
from atelier.diffusion.parsing import load_human_parser_if_exported
from atelier.images import paste_back
from atelier.model_repository import configured_scheduler

SCHEDULERS = {
    "euler": EulerDiscreteScheduler,
    "euler_ancestral": EulerAncestralDiscreteScheduler,
    "ddim": DDIMScheduler,
    "dpmpp_2m": DPMSolverMultistepScheduler,
    "unipc": UniPCMultistepScheduler,
}


def exported_folder(version_dir: Path, name: str) -> Path:
    """A folder the export wrote beside export.json (tokenizer, scheduler); a clear error where it is missing."""
    folder = Path(version_dir) / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing: the model repository is damaged; export this model again")
    return folder


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float32).contiguous().numpy()


class Pipeline:
    """What the pipelines share: tokenizer (none for try-on), scheduler, VAE and the calls into the networks."""

    kind = ""
    eta = 0.0  # DDIM's noise at each step (diffusers' default); schedulers without the parameter ignore it

    def __init__(self, version_dir: Path, networks: Networks, scheduler: str) -> None:
        self.spec = PipelineRecord.read(version_dir)
        self.networks = networks
        has_text = "tokenizer" in self.spec.folders()  # try-on has no text encoder
        self.tokenizer = CLIPTokenizer.from_pretrained(exported_folder(version_dir, "tokenizer")) if has_text else None
        self.scheduler_name = scheduler
        if self.scheduler_name not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler_name!r}; one of {', '.join(SCHEDULERS)}")
        self.scheduler_config = SCHEDULERS[self.scheduler_name].load_config(exported_folder(version_dir, "scheduler"))
        vae = self.spec.vae
        self.vae_scale_factor, self.scaling_factor, self.latent_channels = (vae.scale_factor, vae.scaling_factor,
                                                                            vae.latent_channels)
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor)
        self.defaults, self.max_side = self.spec.defaults, self.spec.max_side

    def network(self, role: str) -> str:
        return self.spec.network(role)

    def new_scheduler(self):
        return SCHEDULERS[self.scheduler_name].from_config(self.scheduler_config)

    def token_ids(self, texts: list[str], tokenizer: CLIPTokenizer | None = None) -> np.ndarray:
        tokenizer = tokenizer or self.tokenizer
        return np.asarray(tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                                    truncation=True).input_ids, dtype=np.int64)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        (hidden,) = self.networks(self.network("text_encoder"), {"input_ids": self.token_ids(texts)},
                                  ["hidden_states"])
        return torch.from_numpy(hidden)

    def unet(self, sample: torch.Tensor, t: torch.Tensor, hidden: torch.Tensor | None, **extra: torch.Tensor):
        inputs = {"sample": _to_numpy(sample), "timestep": np.full(len(sample), float(t), np.float32),
                  **{k: _to_numpy(v) for k, v in extra.items()}}
        if hidden is not None:
            inputs["encoder_hidden_states"] = _to_numpy(hidden)
        (noise,) = self.networks(self.network("unet"), inputs, ["noise_pred"])
        return torch.from_numpy(noise)

    def vae_moments(self, image: torch.Tensor) -> torch.Tensor:
        (moments,) = self.networks(self.network("vae_encoder"), {"image": _to_numpy(image)}, ["latent_parameters"])
        return torch.from_numpy(moments)

    def decode(self, latents: torch.Tensor) -> list[np.ndarray]:
        (image,) = self.networks(self.network("vae_decoder"), {"latents": _to_numpy(latents / self.scaling_factor)},
                                 ["image"])
        images = self.image_processor.postprocess(torch.from_numpy(image), output_type="np")
        return list((images * 255).round().astype(np.uint8))

    def step_kwargs(self, scheduler, generators: list[torch.Generator]) -> dict[str, Any]:
        accepted = inspect.signature(scheduler.step).parameters
        kwargs = {"eta": self.eta} if "eta" in accepted else {}
        if "generator" in accepted:
            kwargs["generator"] = generators
        return kwargs

    @staticmethod
    def generators(batch: list) -> list[torch.Generator]:
        return [torch.Generator("cpu").manual_seed(request.seed) for request in batch]

    def parse(self, values: dict[str, Any]):
        """A validated request from the model's named input values (ValueError if it is not acceptable)."""
        raise NotImplementedError

    def __call__(self, batch: list) -> list[np.ndarray]:
        """Images (H, W, 3 uint8) for requests that share `batch_key()`."""
        raise NotImplementedError


class Text2Image(Pipeline):
    """StableDiffusionXLPipeline.__call__ (no refiner, no guidance rescale)."""

    kind = "txt2img"

    def __init__(self, version_dir: Path, networks: Networks, scheduler: str) -> None:
        super().__init__(version_dir, networks, scheduler)
        self.tokenizer_2 = CLIPTokenizer.from_pretrained(exported_folder(version_dir, "tokenizer_2"))

    def parse(self, values: dict[str, Any]) -> inputs.Txt2ImgRequest:
        return inputs.txt2img_request(values, self.tokenizer, self.defaults, self.max_side)

    def encode_prompts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Both encoders' penultimate hidden states, concatenated, and encoder 2's pooled projection."""
        (hidden_1,) = self.networks(self.network("text_encoder"), {"input_ids": self.token_ids(texts)},
                                    ["hidden_states"])
        hidden_2, pooled = self.networks(self.network("text_encoder_2"),
                                         {"input_ids": self.token_ids(texts, self.tokenizer_2)},
                                         ["hidden_states", "text_embeds"])
        return torch.from_numpy(np.concatenate([hidden_1, hidden_2], axis=-1)), torch.from_numpy(pooled)

    def negative_embeddings(self, batch: list[inputs.Txt2ImgRequest], embeds, pooled):
        """Zeros for requests without a negative prompt (SDXL's force_zeros_for_empty_prompt)."""
        zeros = self.spec.force_zeros_for_empty_prompt
        negative, negative_pooled = torch.zeros_like(embeds), torch.zeros_like(pooled)
        to_encode = [i for i, r in enumerate(batch) if r.negative_prompt is not None or not zeros]
        if to_encode:
            encoded, encoded_pooled = self.encode_prompts([batch[i].negative_prompt or "" for i in to_encode])
            negative[to_encode], negative_pooled[to_encode] = encoded, encoded_pooled
        return negative, negative_pooled

    @torch.no_grad()
    def __call__(self, batch: list[inputs.Txt2ImgRequest]) -> list[np.ndarray]:
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


class InstructEdit(Pipeline):
    """StableDiffusionInstructPix2PixPipeline.__call__: text guidance plus image guidance."""

    kind = "edit"

    def parse(self, values: dict[str, Any]) -> inputs.EditRequest:
        return inputs.edit_request(values, self.tokenizer, self.defaults, self.max_side)

    @torch.no_grad()
    def __call__(self, batch: list[inputs.EditRequest]) -> list[np.ndarray]:
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


class Inpaint(Pipeline):
    """StableDiffusionInpaintPipeline.__call__ for a 9-channel UNet, then paste-back into the original."""

    kind = "inpaint"

    def __init__(self, version_dir: Path, networks: Networks, scheduler: str) -> None:
        super().__init__(version_dir, networks, scheduler)
        self.mask_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor, do_normalize=False,
                                                do_binarize=True, do_convert_grayscale=True)

    def parse(self, values: dict[str, Any]) -> inputs.InpaintRequest:
        return inputs.inpaint_request(values, self.tokenizer, self.defaults, self.max_side)

    def sample_latents(self, image: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        """VAE latents sampled from the encoder's Gaussian, each request with its own generator."""
        moments = self.vae_moments(image)
        samples = [DiagonalGaussianDistribution(moments[i : i + 1]).sample(generator)
                   for i, generator in enumerate(generators)]
        return torch.cat(samples) * self.scaling_factor

    @torch.no_grad()
    def __call__(self, batch: list[inputs.InpaintRequest]) -> list[np.ndarray]:
        todo = [r for r in batch if not r.mask_is_empty]
        generated = iter(self.generate(todo) if todo else [])
        # An empty mask repaints nothing: the input comes back as it was.
        return [np.asarray(r.image) if r.mask_is_empty else next(generated) for r in batch]

    def generate(self, batch: list[inputs.InpaintRequest]) -> list[np.ndarray]:
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

    def parse(self, values: dict[str, Any]) -> inputs.TryOnRequest:
        return inputs.tryon_request(values, self.defaults, self.max_side, self.parser)

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
        (grid,) = self.networks("tryon_warp", {k: _to_numpy(v) for k, v in gmm_inputs.items()}, ["grid"])
        grid = interpolate(torch.from_numpy(grid).permute(0, 3, 1, 2), size=tuple(garment.shape[-2:]),
                           mode="bilinear", align_corners=True).permute(0, 2, 3, 1)
        return torch.nn.functional.grid_sample(garment, grid, mode="bilinear", padding_mode="border",
                                               align_corners=True)

    @torch.no_grad()
    def __call__(self, batch: list[inputs.TryOnRequest]) -> list[np.ndarray]:
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


PIPELINES = {cls.kind: cls for cls in (Text2Image, InstructEdit, Inpaint, TryOn)}


def load_pipeline(version_dir: Path, networks: Networks, scheduler: str | None = None) -> Pipeline:
    """The pipeline that `atelier export` wrote into `version_dir` (txt2img/1, edit/1 or inpaint/1).

    Its scheduler is the one the model's config.pbtxt names, unless `scheduler` overrides it.
    """
    kind = PipelineRecord.read(version_dir).pipeline
    return PIPELINES[kind](version_dir, networks, scheduler or configured_scheduler(Path(version_dir).parent))
