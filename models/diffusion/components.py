"""What the pipeline builders share: CLIP's tokenizer, the tiny profile's building blocks, the published noise
schedule, and the wrappers that give each network the inputs and outputs its Triton model has.

A builder (models/diffusion/<pipeline>.py) says which networks its pipeline exports as `Traced` entries:
the module, example inputs to trace it with, and its named, dynamically sized tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from torch import nn
from transformers import CLIPTextConfig, CLIPTokenizer

TINY_SEED = 0
# The published checkpoints' noise schedule (SD 1.x and SDXL share it).
SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
# A checkpoint folder may say how its own weights sample best (training/train_generators.py writes one):
# export puts these settings in place of the profile's defaults for requests that leave them out.
SAMPLING_FILE = "sampling.json"
CONTEXT = 77  # CLIP's text context
IMAGE_AXES = {0: "batch", 2: "height", 3: "width"}
TEXT_AXES = {"input_ids": {0: "batch"}, "hidden_states": {0: "batch"}, "text_embeds": {0: "batch"}}


@dataclass(frozen=True)
class Traced:
    """One exported network: the module, example inputs to trace it with, its tensors' names and dynamic axes."""

    module: nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: list[str]
    outputs: list[str]
    axes: dict[str, dict[int, str]]


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> CLIPTokenizer:
    """CLIP's BPE tokenizer, built from the vocabulary file in the open_clip package (no download)."""
    from open_clip.tokenizer import SimpleTokenizer

    simple = SimpleTokenizer()
    special = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {special.get(token, token): index for token, index in simple.encoder.items()}
    merges = [pair for pair, _ in sorted(simple.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, pad_token=pad_token, model_max_length=CONTEXT)


def tiny_text_config(**overrides) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        max_position_embeddings=CONTEXT, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
        hidden_act="quick_gelu", projection_dim=32, **overrides,
    )


def tiny_vae(scaling_factor: float) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(8, 16, 16, 32),  # four levels: the real 8x down-sampling
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=256, scaling_factor=scaling_factor,
    )


def tiny_sd_unet(in_channels: int) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=32, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=8,
        norm_num_groups=32,
    )


class TextEncoder(nn.Module):
    """CLIP text encoder -> the hidden states a pipeline conditions on (and the pooled projection)."""

    def __init__(self, encoder: nn.Module, penultimate: bool, pooled: bool) -> None:
        super().__init__()
        self.encoder, self.penultimate, self.pooled = encoder, penultimate, pooled

    def forward(self, input_ids: torch.Tensor):
        out = self.encoder(input_ids, output_hidden_states=True)
        hidden = out.hidden_states[-2] if self.penultimate else out.last_hidden_state
        return (hidden, out.text_embeds) if self.pooled else hidden


class UNet(nn.Module):
    def __init__(self, unet: nn.Module, text_time: bool = False) -> None:
        super().__init__()
        self.unet, self.text_time = unet, text_time

    def forward(self, sample, timestep, encoder_hidden_states=None, text_embeds=None, time_ids=None):
        added = {"text_embeds": text_embeds, "time_ids": time_ids} if self.text_time else None
        return self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=added, return_dict=False)[0]


class VaeEncoder(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.vae._encode(image)  # the moments DiagonalGaussianDistribution is built from


class VaeDecoder(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents, return_dict=False)[0]


def example_token_ids(tokenizer: CLIPTokenizer) -> torch.Tensor:
    return torch.tensor(tokenizer(["a linen shirt", "a red dress"], padding="max_length", max_length=CONTEXT).input_ids)


def text_encoder(encoder: nn.Module, tokenizer: CLIPTokenizer, penultimate: bool = False,
                 pooled: bool = False) -> Traced:
    """input_ids -> hidden_states (the last layer's, or the penultimate), and text_embeds where `pooled`."""
    return Traced(TextEncoder(encoder, penultimate, pooled), (example_token_ids(tokenizer),), ["input_ids"],
                  ["hidden_states", "text_embeds"] if pooled else ["hidden_states"], TEXT_AXES)


def example_sample(pipe: DiffusionPipeline, size: int, generator: torch.Generator) -> torch.Tensor:
    """Noisy UNet input for two rows, traced at odd latent sizes, so the graph keeps the UNet's path for sizes that
    do not halve evenly (diffusers takes it only when it is needed, and the tracer records one path)."""
    latent = size // pipe.vae_scale_factor
    return torch.randn(2, pipe.unet.config.in_channels, latent + 1, latent - 1, generator=generator)


def unet(pipe: DiffusionPipeline, size: int, generator: torch.Generator, cross_attention: bool = True,
         pooled_dim: int | None = None) -> Traced:
    """sample, timestep[, encoder_hidden_states] -> noise_pred: an SD UNet (try-on's skips cross-attention); with
    `pooled_dim`, SDXL's, which also takes the pooled text_embeds and six time_ids (text-time conditioning)."""
    sample, timestep = example_sample(pipe, size, generator), torch.tensor([999.0, 10.0])
    axes = {"sample": IMAGE_AXES, "timestep": {0: "batch"}, "noise_pred": IMAGE_AXES}
    if not cross_attention:
        return Traced(UNet(pipe.unet), (sample, timestep), ["sample", "timestep"], ["noise_pred"], axes)
    hidden = torch.randn(2, CONTEXT, pipe.unet.config.cross_attention_dim, generator=generator)
    inputs, names = (sample, timestep, hidden), ["sample", "timestep", "encoder_hidden_states"]
    axes["encoder_hidden_states"] = {0: "batch"}
    if pooled_dim is not None:
        pooled = torch.randn(2, pooled_dim, generator=generator)
        time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]] * 2)
        inputs, names = (*inputs, pooled, time_ids), [*names, "text_embeds", "time_ids"]
        axes |= {"text_embeds": {0: "batch"}, "time_ids": {0: "batch"}}
    return Traced(UNet(pipe.unet, text_time=pooled_dim is not None), inputs, names, ["noise_pred"], axes)


def vae_encoder(pipe: DiffusionPipeline, size: int, generator: torch.Generator) -> Traced:
    """image -> latent_parameters: the Gaussian's mean and log-variance."""
    image = torch.rand(2, 3, size, size, generator=generator) * 2 - 1
    return Traced(VaeEncoder(pipe.vae), (image,), ["image"], ["latent_parameters"],
                  {"image": IMAGE_AXES, "latent_parameters": IMAGE_AXES})


def vae_decoder(pipe: DiffusionPipeline, size: int, generator: torch.Generator) -> Traced:
    """latents -> image."""
    latent = size // pipe.vae_scale_factor
    latents = torch.randn(2, pipe.vae.config.latent_channels, latent, latent, generator=generator)
    return Traced(VaeDecoder(pipe.vae), (latents,), ["latents"], ["image"],
                  {"latents": IMAGE_AXES, "image": IMAGE_AXES})
