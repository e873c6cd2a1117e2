"""What each tiny generator learns from (training/train_generators.py trains them): the drawn pool of demo looks,
the synthetic people for try-on, and for each network a loss builder, `LOSSES[kind](pipe, data, schedule, seed,
batch)` -> `loss_at(step)`, conditioned exactly as its pipeline conditions it at inference
(atelier/diffusion/pipelines/). Each step draws its batch and noise from generators seeded by (seed, step), so a
resumed run makes the same steps as a straight one.
"""

from __future__ import annotations

import random
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, DiffusionPipeline
from tqdm import tqdm

from training.generation_data import (
    Look,
    caption,
    draw,
    instruction,
    looks,
    negative_words,
    one_apart,
    random_mask,
    to_array,
)
from training.train_tryon import CONDITION_DROPOUT as GARMENT_DROPOUT
from training.viton_synthetic import synthetic_pair

CAPTION_DROPOUT = 0.1
SAME_LOOK_INSIDE = 0.25  # inpaint: the share of masks repainted as the look they cover
TRYON_SIZE = (128, 96)  # (height, width) of the synthetic people try-on learns from
MIN_SNR_GAMMA = 5.0


class Pool:
    """The training looks: their pictures, drawn on first use, and (once the VAE is trained) their latents."""

    def __init__(self, variants: int, progress: bool) -> None:
        self.looks = looks()
        self.allowed = set(self.looks)
        self.others = {look: [other for other in self.looks if other.garment == look.garment and other != look]
                       for look in self.looks}  # the looks an inpainted part may take
        self.index = {(look, v): i for i, (look, v) in enumerate((look, v) for look in self.looks
                                                               for v in range(variants))}
        self.variants, self.progress = variants, progress
        self.latents: torch.Tensor | None = None  # the VAE's mode, times its scaling factor

    @cached_property
    def images(self) -> torch.Tensor:
        return torch.from_numpy(np.stack([to_array(draw(look, v)) for look, v in
                                          tqdm(self.index, desc="draw training looks", disable=not self.progress)]))

    def pick(self, rng: random.Random) -> tuple[Look, int]:
        return rng.choice(self.looks), rng.randrange(self.variants)


def step_generators(seed: int, step: int) -> tuple[random.Random, torch.Generator]:
    return random.Random(f"{seed}:{step}"), torch.Generator().manual_seed(seed * 1_000_003 + step)


def latents(vae: AutoencoderKL, images: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Scaled latents: a sample of the encoder's Gaussian with `gen`, its mode without."""
    with torch.no_grad():
        posterior = vae.encode(images).latent_dist
        return (posterior.sample(gen) if gen is not None else posterior.mode()) * vae.config.scaling_factor


def token_ids(tokenizer, texts: list[str]) -> torch.Tensor:
    return torch.tensor(tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                                  truncation=True).input_ids)


def hidden_states(encoder: torch.nn.Module, ids: torch.Tensor, penultimate: bool):
    out = encoder(ids, output_hidden_states=True)
    return out, out.hidden_states[-2] if penultimate else out.last_hidden_state


def noised(target: torch.Tensor, schedule: DDPMScheduler,
           gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noise, timesteps, the target noised at them): a uniform timestep per sample of the training schedule."""
    noise = torch.randn(target.shape, generator=gen)
    t = torch.randint(0, schedule.config.num_train_timesteps, (len(target),), generator=gen)
    return noise, t, schedule.add_noise(target, noise, t)


def velocity_loss(predicted: torch.Tensor, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                   schedule: DDPMScheduler) -> torch.Tensor:
    """The velocity's squared error, each sample weighted min(SNR + 1, 5) / (SNR + 1): Min-SNR (Hang et al.
    2023) as velocity prediction counts it, the nearly clean timesteps, easy and many, kept from crowding out
    the noisy ones where a picture takes shape; a pure-noise step counts fully."""
    alphas = schedule.alphas_cumprod[t]
    snr_1 = alphas / (1 - alphas) + 1
    weight = torch.clamp(snr_1, max=MIN_SNR_GAMMA) / snr_1
    error = (predicted - schedule.get_velocity(latents, noise, t)) ** 2
    return (weight * error.mean(dim=(1, 2, 3))).mean()


def txt2img_loss(pipe: DiffusionPipeline, pool: Pool, schedule: DDPMScheduler, seed: int, batch: int):
    size = pool.images.shape[-1]
    time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32).repeat(batch, 1)

    def loss_at(step: int) -> torch.Tensor:
        rng, gen = step_generators(seed, step)
        picks = [pool.pick(rng) for _ in range(batch)]
        target = pool.latents[[pool.index[p] for p in picks]]
        dropped = [rng.random() < CAPTION_DROPOUT for _ in picks]
        # A dropped caption is SDXL's unconditional input: zeros (no negative prompt) or, half the time, a
        # negative prompt's words, which name nothing drawn (what the Stylist sends beside its prompts).
        texts = [negative_words(rng) if drop else caption(look, rng) for (look, _), drop in zip(picks, dropped)]
        _, hidden_1 = hidden_states(pipe.text_encoder, token_ids(pipe.tokenizer, texts), True)
        out_2, hidden_2 = hidden_states(pipe.text_encoder_2, token_ids(pipe.tokenizer_2, texts), True)
        keep = torch.tensor([not (drop and rng.random() < 0.5) for drop in dropped], dtype=torch.float32)
        hidden = torch.cat([hidden_1, hidden_2], dim=-1) * keep[:, None, None]
        pooled = out_2.text_embeds * keep[:, None]
        noise, t, noisy = noised(target, schedule, gen)
        predicted = pipe.unet(noisy, t, hidden,
                              added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
        return velocity_loss(predicted, target, noise, t, schedule)

    return loss_at


def edit_loss(pipe: DiffusionPipeline, pool: Pool, schedule: DDPMScheduler, seed: int, batch: int):
    scaling = pipe.vae.config.scaling_factor

    def loss_at(step: int) -> torch.Tensor:
        rng, gen = step_generators(seed, step)
        befores = [pool.pick(rng) for _ in range(batch)]
        afters = [(one_apart(look, rng, pool.allowed), v) for look, v in befores]
        texts = [instruction(before, after, rng) for (before, _), (after, _) in zip(befores, afters)]
        image = pool.latents[[pool.index[p] for p in befores]] / scaling  # pix2pix conditions on unscaled latents
        target = pool.latents[[pool.index[p] for p in afters]]
        drop = torch.rand(len(texts), generator=gen)  # 5% no text, 5% no image, 5% neither
        texts = [t if not (d < 0.05 or 0.10 <= d < 0.15) else "" for t, d in zip(texts, drop.tolist())]
        image = image * (drop >= 0.10).float()[:, None, None, None]
        _, hidden = hidden_states(pipe.text_encoder, token_ids(pipe.tokenizer, texts), False)
        noise, t, noisy = noised(target, schedule, gen)
        predicted = pipe.unet(torch.cat([noisy, image], dim=1), t, hidden).sample
        return velocity_loss(predicted, target, noise, t, schedule)

    return loss_at


def inpaint_loss(pipe: DiffusionPipeline, pool: Pool, schedule: DDPMScheduler, seed: int, batch: int):
    def loss_at(step: int) -> torch.Tensor:
        rng, gen = step_generators(seed, step)
        originals = [pool.pick(rng) for _ in range(batch)]
        # A quarter repaint the masked part as the same look, the rest as another look of the garment, colour and
        # pattern drawn anew: with one attribute changed at a time (as before), the colour outside the mask was the
        # colour inside two times in three, and the network painted what it saw, not what the caption said.
        insides = [(look if rng.random() < SAME_LOOK_INSIDE else rng.choice(pool.others[look]), v)
                   for look, v in originals]
        masks = torch.from_numpy(np.stack([np.asarray(random_mask(rng), dtype=np.float32)[None] / 255
                                           for _ in originals]))
        masks = (masks >= 0.5).float()
        before = pool.images[[pool.index[p] for p in originals]]
        target_image = before * (1 - masks) + pool.images[[pool.index[p] for p in insides]] * masks
        # dropped captions: the empty prompt (inpaint's unconditional input) or a negative prompt's words, half each
        texts = [caption(look, rng) if rng.random() >= CAPTION_DROPOUT else rng.choice(("", negative_words(rng)))
                 for look, _ in insides]
        target, masked = latents(pipe.vae, target_image, gen), latents(pipe.vae, before * (masks < 0.5), gen)
        small_masks = F.interpolate(masks, size=target.shape[-2:])
        _, hidden = hidden_states(pipe.text_encoder, token_ids(pipe.tokenizer, texts), False)
        noise, t, noisy = noised(target, schedule, gen)
        predicted = pipe.unet(torch.cat([noisy, small_masks, masked], dim=1), t, hidden).sample
        return velocity_loss(predicted, target, noise, t, schedule)

    return loss_at


class People:
    """Synthetic people in their garments (training/viton_synthetic.py) as the try-on UNet sees them: the latents of
    each person, of their garment laid flat and of the person with the garment area blanked, and that area."""

    def __init__(self, count: int, vae: AutoencoderKL, progress: bool) -> None:
        pairs = [synthetic_pair(index, TRYON_SIZE, split="train")
                 for index in tqdm(range(count), desc="draw try-on people", disable=not progress)]
        person = torch.from_numpy(np.stack([to_array(pair.person) for pair in pairs]))
        mask = torch.from_numpy(np.stack([np.asarray(pair.agnostic_mask, np.float32)[None] / 255 for pair in pairs]))
        mask = (mask >= 0.5).float()
        self.person = latents(vae, person)
        self.garment = latents(vae, torch.from_numpy(np.stack([to_array(pair.cloth) for pair in pairs])))
        self.masked = latents(vae, person * (mask < 0.5))
        self.mask = F.interpolate(mask, size=self.person.shape[-2:], mode="nearest")


def tryon_loss(pipe: DiffusionPipeline, people: People, schedule: DDPMScheduler, seed: int, batch: int):
    def loss_at(step: int) -> torch.Tensor:
        rng, gen = step_generators(seed, step)
        picks = torch.tensor([rng.randrange(len(people.person)) for _ in range(batch)])
        keep = (torch.rand(len(picks), generator=gen) >= GARMENT_DROPOUT).float()[:, None, None, None]
        # Person over garment, as atelier/diffusion/pipelines/tryon.py stacks them; only the person's area repaints.
        target = torch.cat([people.person[picks], people.garment[picks]], dim=-2)
        condition = torch.cat([people.masked[picks], people.garment[picks] * keep], dim=-2)
        mask = torch.cat([people.mask[picks], torch.zeros_like(people.mask[picks])], dim=-2)
        noise, t, noisy = noised(target, schedule, gen)
        predicted = pipe.unet(torch.cat([noisy, mask, condition], dim=1), t, None).sample
        return velocity_loss(predicted, target, noise, t, schedule)

    return loss_at


LOSSES = {"txt2img": txt2img_loss, "edit": edit_loss, "inpaint": inpaint_loss, "tryon": tryon_loss}
