"""tryon: CatVTON (Chong et al. 2024, https://github.com/Zheng-Chong/CatVTON, CC BY-NC-SA 4.0 weights), a 9-channel
SD inpainting UNet without cross-attention whose self-attention is trained for try-on, and a VAE. tiny: toy
widths; a checkpoint (the full profile's: SD 1.5 inpainting) gives its UNet and scheduler, with CatVTON's
self-attention weights and the VAE it runs with.

The denoising loop is atelier/diffusion/pipelines/tryon.py; this holds the PyTorch modules it is exported from
(and trained from, training/train_tryon.py).
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet2DConditionModel
from diffusers.models.attention_processor import Attention

from atelier.config import AtelierError
from models.diffusion import components as c
from models.diffusion.inpaint import tiny_scheduler

CATVTON = {"attention": ("zhengchong/CatVTON", "mix-48k-1024/attention/model.safetensors"),
           "vae": "stabilityai/sd-vae-ft-mse"}


class SkipCrossAttention:
    """CatVTON's processor for the cross-attention it removes: returns its input, the normalised hidden states."""

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return hidden_states


def skip_cross_attention(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    processors = unet.attn_processors
    unet.set_attn_processor({name: SkipCrossAttention() if ".attn2." in name else processor
                             for name, processor in processors.items()})
    return unet


def self_attention_modules(unet: UNet2DConditionModel) -> torch.nn.ModuleList:
    """Every module named *attn1*, in named_modules order: what CatVTON trains and its weights file holds."""
    return torch.nn.ModuleList(module for name, module in unet.named_modules() if "attn1" in name)


def load_self_attention(unet: UNet2DConditionModel, weights: str) -> None:
    """Self-attention weights from a .safetensors file, or CatVTON's published ones for weights="catvton"."""
    from safetensors.torch import load_model

    if weights == "catvton":
        from huggingface_hub import hf_hub_download

        weights = hf_hub_download(*CATVTON["attention"])
    try:  # load_model, not load_state_dict: the module list names each shared weight twice
        load_model(self_attention_modules(unet), weights)
    except (OSError, RuntimeError) as error:
        raise AtelierError(f"could not load try-on self-attention weights from {weights!r}: {error}") from error


class TryOnPipeline(DiffusionPipeline):
    """CatVTON's networks: a 9-channel inpainting UNet without cross-attention, a VAE, a scheduler."""

    def __init__(self, unet: UNet2DConditionModel, vae: AutoencoderKL, scheduler: DDIMScheduler) -> None:
        super().__init__()
        self.register_modules(unet=skip_cross_attention(unet), vae=vae, scheduler=scheduler)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)


def build(source: str | None, attention: str | None = None) -> TryOnPipeline:
    """`source`: a checkpoint whose UNet and scheduler CatVTON runs on (its self-attention and VAE then default to
    CatVTON's), or a folder trained whole that holds its own VAE (training/train_generators.py); `attention`:
    self-attention weights (.safetensors, as training/train_tryon.py writes)."""
    if source is None:
        torch.manual_seed(c.TINY_SEED)
        pipe = TryOnPipeline(c.tiny_sd_unet(9), c.tiny_vae(0.18215), tiny_scheduler())
    else:
        trained_whole = (Path(source) / "vae" / "config.json").is_file()
        vae = (AutoencoderKL.from_pretrained(source, subfolder="vae") if trained_whole
               else AutoencoderKL.from_pretrained(CATVTON["vae"]))
        pipe = TryOnPipeline(UNet2DConditionModel.from_pretrained(source, subfolder="unet"), vae,
                             DDIMScheduler.from_pretrained(source, subfolder="scheduler"))
        attention = attention or (None if trained_whole else "catvton")
    if attention:
        load_self_attention(pipe.unet, attention)
    return pipe


def networks(pipe: TryOnPipeline, size: int, generator: torch.Generator) -> dict[str, c.Traced]:
    """No text encoder: the UNet takes no encoder_hidden_states."""
    return {"unet": c.unet(pipe, size, generator, cross_attention=False),
            "vae_encoder": c.vae_encoder(pipe, size, generator), "vae_decoder": c.vae_decoder(pipe, size, generator)}
