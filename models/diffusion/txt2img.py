"""txt2img: SDXL (the full profile's checkpoint: atelier/families.py). tiny: its UNet with text-time conditioning
and two CLIP text encoders at toy widths."""

from __future__ import annotations

import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from models.diffusion import components as c


def build(source: str | None) -> StableDiffusionXLPipeline:
    return tiny() if source is None else StableDiffusionXLPipeline.from_pretrained(source, torch_dtype=torch.float32)


def tiny() -> StableDiffusionXLPipeline:
    torch.manual_seed(c.TINY_SEED)
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
        vae=c.tiny_vae(0.13025), text_encoder=CLIPTextModel(c.tiny_text_config()),
        text_encoder_2=CLIPTextModelWithProjection(c.tiny_text_config()),
        tokenizer=c.clip_tokenizer(), tokenizer_2=c.clip_tokenizer(pad_token="!"), unet=unet,
        scheduler=EulerDiscreteScheduler(**c.SCHEDULE, steps_offset=1, timestep_spacing="leading"),
        force_zeros_for_empty_prompt=True,
    )


def networks(pipe: StableDiffusionXLPipeline, size: int, generator: torch.Generator) -> dict[str, c.Traced]:
    """Both text encoders' penultimate hidden states (encoder 2's pooled projection too); a UNet that also takes
    the pooled text_embeds and six time_ids; the VAE's decoder."""
    return {"text_encoder": c.text_encoder(pipe.text_encoder, pipe.tokenizer, penultimate=True),
            "text_encoder_2": c.text_encoder(pipe.text_encoder_2, pipe.tokenizer, penultimate=True, pooled=True),
            "unet": c.unet(pipe, size, generator, pooled_dim=pipe.text_encoder_2.config.projection_dim),
            "vae_decoder": c.vae_decoder(pipe, size, generator)}
