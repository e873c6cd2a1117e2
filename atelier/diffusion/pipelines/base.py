"""What every pipeline's loop shares: the exported tokenizer, scheduler and VAE constants, and the calls into its
networks (text encoder, UNet, VAE encoder and decoder) by role.
"""

from __future__ import annotations

import inspect
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
from transformers import CLIPTokenizer

from atelier.diffusion.exported import PipelineRecord
from atelier.diffusion.networks import Networks

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


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
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
        inputs = {"sample": to_numpy(sample), "timestep": np.full(len(sample), float(t), np.float32),
                  **{k: to_numpy(v) for k, v in extra.items()}}
        if hidden is not None:
            inputs["encoder_hidden_states"] = to_numpy(hidden)
        (noise,) = self.networks(self.network("unet"), inputs, ["noise_pred"])
        return torch.from_numpy(noise)

    def vae_moments(self, image: torch.Tensor) -> torch.Tensor:
        (moments,) = self.networks(self.network("vae_encoder"), {"image": to_numpy(image)}, ["latent_parameters"])
        return torch.from_numpy(moments)

    def decode(self, latents: torch.Tensor) -> list[np.ndarray]:
        (image,) = self.networks(self.network("vae_decoder"), {"latents": to_numpy(latents / self.scaling_factor)},
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


