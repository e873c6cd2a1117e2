"""Fine-tune a LoRA on the SDXL UNet's attention projections, as diffusers' train_text_to_image_lora_sdxl.py does.

Each step: a batch drawn from the weighted mixture of sources (training/lora_data.py), half of them captioned
as a plain prompt would be ("a dress": `plain_captions`), captions encoded by
both frozen text encoders as the SDXL pipeline encodes prompts, images by the frozen VAE; the latents are
noised at random timesteps of the pipeline's noise schedule and the UNet, with a LoRA on to_q, to_k, to_v
and to_out.0 of every attention layer, learns to predict what the base UNet predicts: the noise (SDXL), or the
velocity (the tiny generators trained on the demo catalog, training/train_generators.py). OUT_DIR/checkpoint.pt
is written every `checkpoint_every` steps and a later call resumes from it, ending with the same weights, bit for
bit on CPU, as a run never interrupted. OUT_DIR/pytorch_lora_weights.safetensors is diffusers' LoRA format, which
`atelier export --lora` fuses into the served UNet.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionXLPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from tqdm import tqdm

from atelier.config import AtelierError
from models.diffusion import load_diffusers_pipeline
from training.checkpoints import load_checkpoint, resumable_settings, save_checkpoint
from training.lora_data import LoraExample, LoraSource, MixtureSampler, load_example

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # the name save_lora_weights gives the file


@dataclass(frozen=True)
class LoraTrainConfig:
    steps: int = 1000
    batch_size: int = 1
    lr: float = 1e-4  # diffusers' SDXL LoRA example's
    rank: int = 4
    alpha: float = 4.0  # the LoRA update is scaled by alpha / rank
    resolution: int | None = None  # None: the base UNet's native size (SDXL's 1024)
    seed: int = 0
    checkpoint_every: int = 100
    validation_every: int = 100
    validation_prompts: tuple[str, ...] = ("a red floral summer dress", "a navy wool coat, outerwear")
    validation_inference_steps: int = 20
    # The share of examples captioned as a prompt that names no colour or pattern would be ("a dress"): what the
    # LoRA is for is drawing such prompts as its pictures are (trends, a shopper's history). Captioned in full
    # alone, it learnt "a red dress" -> red, which the base draws already, and moved "a dress" nowhere.
    plain_captions: float = 0.5


@dataclass
class LoraRun:
    losses: list[float] = field(default_factory=list)
    lora_path: Path | None = None  # diffusers-format LoRA (.safetensors)
    validation_images: list[Path] = field(default_factory=list)


def _conditioning(pipe: StableDiffusionXLPipeline, examples: list[LoraExample],
                  resolution: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Encoder hidden states and SDXL's added conditions (pooled text, size and crop time ids)."""
    hidden, _, pooled, _ = pipe.encode_prompt([e.caption for e in examples], device=torch.device("cpu"),
                                              num_images_per_prompt=1, do_classifier_free_guidance=False)
    time_ids = torch.tensor([[*e.original_size, *e.crop_top_left, resolution, resolution] for e in examples],
                            dtype=hidden.dtype)
    return hidden, {"text_embeds": pooled, "time_ids": time_ids}


def _validate(pipe: StableDiffusionXLPipeline, config: LoraTrainConfig, resolution: int, step: int,
              folder: Path) -> list[Path]:
    """One picture per validation prompt, on a seed of its own: the training RNG stream is left untouched."""
    folder.mkdir(parents=True, exist_ok=True)
    pipe.unet.eval()
    with torch.random.fork_rng():
        images = pipe(list(config.validation_prompts), num_inference_steps=config.validation_inference_steps,
                      height=resolution, width=resolution,
                      generator=torch.Generator().manual_seed(config.seed)).images
    pipe.unet.train()
    paths = [folder / f"step{step:06d}-{index}.png" for index in range(len(images))]
    for image, path in zip(images, paths):
        image.save(path)
    return paths


def train_lora(sources: Sequence[LoraSource], out_dir: Path, config: LoraTrainConfig = LoraTrainConfig(),
               profile: str = "tiny", source: str | None = None, resume: bool = True,
               progress: bool = True) -> LoraRun:
    """Train, checkpointing to `out_dir` every `config.checkpoint_every` steps; a later call resumes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sampler = MixtureSampler(sources, config.seed)
    pipe = load_diffusers_pipeline("txt2img", profile, source)
    unet, vae = pipe.unet, pipe.vae
    for module in (unet, vae, pipe.text_encoder, pipe.text_encoder_2):
        module.requires_grad_(False)
    torch.manual_seed(config.seed)  # before add_adapter: it draws LoRA A (B starts at zero)
    unet.add_adapter(LoraConfig(r=config.rank, lora_alpha=config.alpha, init_lora_weights="gaussian",
                                target_modules=list(LORA_TARGETS)))
    lora = {name: parameter for name, parameter in unet.named_parameters() if parameter.requires_grad}
    noise_schedule = DDPMScheduler.from_config(pipe.scheduler.config)
    if noise_schedule.config.prediction_type not in ("epsilon", "v_prediction"):
        raise AtelierError(f"LoRA training predicts the noise or the velocity, this UNet "
                           f"{noise_schedule.config.prediction_type}")
    resolution = config.resolution or pipe.unet.config.sample_size * pipe.vae_scale_factor
    optimizer = torch.optim.AdamW(lora.values(), lr=config.lr)
    run, step = LoraRun(), 0
    checkpoint = out_dir / "checkpoint.pt"
    settings = resumable_settings(config, profile=profile, source=source)
    if resume and (state := load_checkpoint(checkpoint, {"settings": settings})):
        with torch.no_grad():
            for name, parameter in lora.items():
                parameter.copy_(state["lora"][name])
        optimizer.load_state_dict(state["optimizer"])
        step, run.losses = state["step"], state["losses"]
        run.validation_images = [Path(path) for path in state["validation_images"]]
        torch.set_rng_state(state["rng"])

    unet.train()
    bar = tqdm(total=config.steps, initial=step, desc="train lora", unit="step", disable=not progress)
    while step < config.steps:
        rows, plain = sampler.draw(step, config.batch_size), random.Random(f"{config.seed}:{step}:plain")
        examples = [load_example(row, resolution, plain.random() < config.plain_captions) for row in rows]
        with torch.no_grad():
            hidden, added = _conditioning(pipe, examples, resolution)
            pixels = torch.stack([e.pixels for e in examples])
            latents = vae.encode(pixels).latent_dist.sample() * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, noise_schedule.config.num_train_timesteps, (len(latents),))
        noisy = noise_schedule.add_noise(latents, noise, timesteps)
        prediction = unet(noisy, timesteps, hidden, added_cond_kwargs=added, return_dict=False)[0]
        target = (noise if noise_schedule.config.prediction_type == "epsilon"
                  else noise_schedule.get_velocity(latents, noise, timesteps))
        loss = F.mse_loss(prediction, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora.values(), 1.0)  # diffusers' example's max_grad_norm
        optimizer.step()
        step += 1
        run.losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.validation_every == 0 or step == config.steps:
            run.validation_images += _validate(pipe, config, resolution, step, out_dir / "validation")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(checkpoint, {
                "settings": settings, "lora": {name: parameter.detach().clone() for name, parameter in lora.items()},
                "optimizer": optimizer.state_dict(), "step": step, "losses": run.losses,
                "validation_images": [str(path) for path in run.validation_images], "rng": torch.get_rng_state()})
    bar.close()
    if not all(math.isfinite(loss) for loss in run.losses):
        raise FloatingPointError("the LoRA loss diverged; lower the learning rate")
    StableDiffusionXLPipeline.save_lora_weights(
        out_dir, unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)),
        unet_lora_adapter_metadata=unet.peft_config["default"].to_dict())  # keeps alpha: rank alone is in the weights
    run.lora_path = out_dir / LORA_WEIGHTS
    return run
