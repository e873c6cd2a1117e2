"""The four diffusion pipelines Atelier serves, built for a profile.

tiny: the real architectures (SDXL UNet with text-time conditioning and two CLIP text encoders,
an 8-channel instruct-pix2pix UNet, a 9-channel inpainting UNet, the same without cross-attention
for try-on, 8x VAEs) at toy widths, seeded random init, offline, in seconds on a CPU. The tokenizer
is the real CLIP BPE vocabulary that open_clip ships, so prompts tokenize exactly as with the
published models.
full: published weights by Hugging Face id or local path (see FULL_SOURCES); try-on loads CatVTON's
self-attention weights onto the SD inpainting UNet (see CATVTON).
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DiffusionPipeline,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionInstructPix2PixPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.models.attention_processor import Attention
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from atelier.config import AtelierError
from atelier.families import PIPELINES

FULL_SOURCES = {
    "txt2img": "stabilityai/stable-diffusion-xl-base-1.0",
    "edit": "timbrooks/instruct-pix2pix",
    # runwayml's original SD 1.5 inpainting checkpoint, as mirrored by the stable-diffusion-v1-5 org.
    "inpaint": "stable-diffusion-v1-5/stable-diffusion-inpainting",
    "tryon": "stable-diffusion-v1-5/stable-diffusion-inpainting",  # CatVTON's base UNet and scheduler
}
# CatVTON (Chong et al. 2024, https://github.com/Zheng-Chong/CatVTON, CC BY-NC-SA 4.0 weights): the
# self-attention weights trained for try-on, and the VAE it runs with.
CATVTON = {"attention": ("zhengchong/CatVTON", "mix-48k-1024/attention/model.safetensors"),
           "vae": "stabilityai/sd-vae-ft-mse"}
PIPELINE_CLASSES = {
    "txt2img": StableDiffusionXLPipeline,
    "edit": StableDiffusionInstructPix2PixPipeline,
    "inpaint": StableDiffusionInpaintPipeline,
}
TINY_SEED = 0
# The published checkpoints' noise schedule (SD 1.x and SDXL share it).
# A checkpoint folder may say how its own weights sample best (training/train_generators.py writes one):
# export puts these settings in place of the profile's defaults for requests that leave them out.
SAMPLING_FILE = "sampling.json"
SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> CLIPTokenizer:
    """CLIP's BPE tokenizer, built from the vocabulary file in the open_clip package (no download)."""
    from open_clip.tokenizer import SimpleTokenizer

    simple = SimpleTokenizer()
    special = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {special.get(token, token): index for token, index in simple.encoder.items()}
    merges = [pair for pair, _ in sorted(simple.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, pad_token=pad_token, model_max_length=77)


def _tiny_text_config(**overrides) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
        hidden_act="quick_gelu", projection_dim=32, **overrides,
    )


def _tiny_vae(scaling_factor: float) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(8, 16, 16, 32),  # four levels: the real 8x down-sampling
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=256, scaling_factor=scaling_factor,
    )


def _tiny_sd_unet(in_channels: int) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=32, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=8,
        norm_num_groups=32,
    )


def tiny_pipeline(kind: str) -> DiffusionPipeline:
    torch.manual_seed(TINY_SEED)
    if kind == "txt2img":
        unet = UNet2DConditionModel(
            sample_size=32, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
            use_linear_projection=True, transformer_layers_per_block=(1, 2),
            addition_embed_type="text_time", addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + 32,  # six time ids + text_encoder_2's projection
            cross_attention_dim=64,  # both encoders' hidden states, concatenated
        )
        return StableDiffusionXLPipeline(
            vae=_tiny_vae(0.13025), text_encoder=CLIPTextModel(_tiny_text_config()),
            text_encoder_2=CLIPTextModelWithProjection(_tiny_text_config()),
            tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer(pad_token="!"), unet=unet,
            scheduler=EulerDiscreteScheduler(**SCHEDULE, steps_offset=1, timestep_spacing="leading"),
            force_zeros_for_empty_prompt=True,
        )
    common = {"vae": _tiny_vae(0.18215), "text_encoder": CLIPTextModel(_tiny_text_config()),
              "tokenizer": clip_tokenizer(), "safety_checker": None, "feature_extractor": None}
    if kind == "edit":
        return StableDiffusionInstructPix2PixPipeline(
            unet=_tiny_sd_unet(8), scheduler=EulerAncestralDiscreteScheduler(**SCHEDULE),
            requires_safety_checker=False, **common,
        )
    if kind == "inpaint":
        return StableDiffusionInpaintPipeline(
            unet=_tiny_sd_unet(9),
            scheduler=DDIMScheduler(**SCHEDULE, steps_offset=1, clip_sample=False, set_alpha_to_one=False),
            requires_safety_checker=False, **common,
        )
    raise AtelierError(f"unknown pipeline {kind!r}; one of {', '.join(PIPELINES)}")


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
    """CatVTON's networks: a 9-channel inpainting UNet without cross-attention, a VAE, a scheduler.

    The denoising loop is atelier.diffusion.pipelines.TryOn; this holds the PyTorch modules it is
    exported from (and trained from, training/train_tryon.py).
    """

    def __init__(self, unet: UNet2DConditionModel, vae: AutoencoderKL, scheduler: DDIMScheduler) -> None:
        super().__init__()
        self.register_modules(unet=skip_cross_attention(unet), vae=vae, scheduler=scheduler)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)


def _tryon_pipeline(profile: str, source: str | None, attention: str | None) -> TryOnPipeline:
    if profile == "tiny" and source is None:
        torch.manual_seed(TINY_SEED)
        pipe = TryOnPipeline(_tiny_sd_unet(9), _tiny_vae(0.18215),
                             DDIMScheduler(**SCHEDULE, steps_offset=1, clip_sample=False, set_alpha_to_one=False))
    else:
        source = source or FULL_SOURCES["tryon"]
        try:
            pipe = TryOnPipeline(UNet2DConditionModel.from_pretrained(source, subfolder="unet"),
                                 AutoencoderKL.from_pretrained(CATVTON["vae"]),
                                 DDIMScheduler.from_pretrained(source, subfolder="scheduler"))
        except OSError as error:
            raise AtelierError(f"could not load try-on weights from {source!r}: {error}") from error
        attention = attention or "catvton"
    if attention:
        load_self_attention(pipe.unet, attention)
    return pipe


def load_diffusers_pipeline(kind: str, profile: str, source: str | None = None, lora: str | None = None,
                            lora_scale: float = 1.0, attention: str | None = None) -> DiffusionPipeline:
    """A diffusers pipeline in fp32 on the CPU, with an optional LoRA fused into the txt2img UNet.

    `source` overrides the full profile's checkpoint (hub id or local folder); `lora` is a diffusers/peft
    LoRA (hub id, folder or .safetensors file), as written by `save_lora_weights` or our LoRA trainer;
    `attention` is try-on self-attention weights (.safetensors, as training/train_tryon.py writes; the
    full profile defaults to CatVTON's).
    """
    if kind not in PIPELINES:
        raise AtelierError(f"unknown pipeline {kind!r}; one of {', '.join(PIPELINES)}")
    if attention and kind != "tryon":
        raise AtelierError("self-attention weights are loaded into the try-on UNet only")
    if kind == "tryon":
        pipe = _tryon_pipeline(profile, source, attention)
    elif profile == "tiny" and source is None:
        pipe = tiny_pipeline(kind)
    else:
        source = source or FULL_SOURCES[kind]
        extra = {} if kind == "txt2img" else {"safety_checker": None, "requires_safety_checker": False}
        try:
            pipe = PIPELINE_CLASSES[kind].from_pretrained(source, torch_dtype=torch.float32, **extra)
        except OSError as error:
            raise AtelierError(f"could not load {kind} weights from {source!r}: {error}") from error
    if lora:
        if kind != "txt2img":
            raise AtelierError("LoRA weights are fused into the txt2img (SDXL) UNet only")
        path = Path(lora)
        location = (str(path.parent), {"weight_name": path.name}) if path.is_file() else (lora, {})
        pipe.load_lora_weights(location[0], **location[1])
        pipe.fuse_lora(lora_scale=lora_scale)
        pipe.unload_lora_weights()
    pipe.set_progress_bar_config(disable=True)
    return pipe
