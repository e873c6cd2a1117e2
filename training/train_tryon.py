"""Fine-tune the try-on UNet's self-attention on VITON-HD-style pairs, as CatVTON trains it.

Each step: the person and their own garment are encoded by the frozen VAE and stacked (person over
garment, as atelier/diffusion/pipelines/tryon.py denoises them); the stack is noised at a random
timestep; the UNet sees it beside the mask and the masked person over the garment, and learns to
predict the noise. Only the self-attention layers train (models/diffusion/tryon.py
`self_attention_modules`, what CatVTON's published weights hold); 10% of steps drop the garment so
that classifier-free guidance has an unconditional branch. The result, `attention.safetensors`,
goes to `atelier export --only tryon --tryon-attention`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from safetensors.torch import save_model
from tqdm import tqdm

from atelier.config import AtelierError
from models.diffusion import load_diffusers_pipeline
from models.diffusion.tryon import self_attention_modules
from training.checkpoints import load_checkpoint, resumable_settings, save_checkpoint
from training.viton import VitonDataset, VitonPair, inpainting_mask, to_tensor

CONDITION_DROPOUT = 0.1  # CatVTON's: the share of steps that see no garment


@dataclass(frozen=True)
class TryOnTrainConfig:
    steps: int = 200
    batch_size: int = 2
    lr: float = 1e-5  # CatVTON's
    size: tuple[int, int] = (1024, 768)  # (height, width), VITON-HD's
    garment_type: str = "upper"  # VITON-HD is all upper-body garments
    seed: int = 0
    checkpoint_every: int = 50


@dataclass
class TryOnRun:
    losses: list[float] = field(default_factory=list)
    attention: Path | None = None  # the trained self-attention weights (.safetensors)


def _collate(garment_type: str) -> Callable[[list[VitonPair]], dict[str, torch.Tensor]]:
    def collate(pairs: list[VitonPair]) -> dict[str, torch.Tensor]:
        return {"person": torch.stack([to_tensor(p.person) for p in pairs]),
                "cloth": torch.stack([to_tensor(p.cloth) for p in pairs]),
                "mask": torch.stack([to_tensor(inpainting_mask(p, garment_type)) for p in pairs])}
    return collate


def train_tryon(data_root: Path, out_dir: Path, config: TryOnTrainConfig = TryOnTrainConfig(), profile: str = "tiny",
                source: str | None = None, resume: bool = True, progress: bool = True) -> TryOnRun:
    """Train, checkpointing to `out_dir` every `config.checkpoint_every` steps; a later call resumes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe = load_diffusers_pipeline("tryon", profile, source)
    torch.manual_seed(config.seed)  # after the tiny profile has seeded its own weights
    unet, vae = pipe.unet, pipe.vae
    unet.requires_grad_(False)
    vae.requires_grad_(False)
    attention = self_attention_modules(unet)
    attention.requires_grad_(True)
    noise_schedule = DDPMScheduler.from_config(pipe.scheduler.config)
    optimizer = torch.optim.AdamW(attention.parameters(), lr=config.lr)
    run, step = TryOnRun(), 0
    checkpoint = out_dir / "checkpoint.pt"
    settings = resumable_settings(config, data=str(Path(data_root).resolve()), profile=profile, source=source)
    if resume and (state := load_checkpoint(checkpoint, {"settings": settings})):
        attention.load_state_dict(state["attention"])
        optimizer.load_state_dict(state["optimizer"])
        step, run.losses = state["step"], state["losses"]
        torch.set_rng_state(state["rng"])
    data = VitonDataset(data_root, "train", config.size, paired=True)
    per_epoch = len(data) // config.batch_size
    if per_epoch == 0:
        raise AtelierError(f"{data_root}: {len(data)} training pairs, fewer than a batch of {config.batch_size}")
    collate = _collate(config.garment_type)

    def batch_at(step: int) -> dict[str, torch.Tensor]:
        """The step's batch: each epoch a shuffle of its own, so a resumed run sees what a straight one does."""
        epoch, index = divmod(step, per_epoch)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed + epoch))
        return collate([data[int(i)] for i in order[index * config.batch_size : (index + 1) * config.batch_size]])

    def latents(image: torch.Tensor) -> torch.Tensor:
        return vae.encode(image).latent_dist.mode() * vae.config.scaling_factor

    unet.train()
    bar = tqdm(total=config.steps, initial=step, desc="train tryon", unit="step", disable=not progress)
    while step < config.steps:
        batch = batch_at(step)
        with torch.no_grad():
            person, cloth = latents(batch["person"]), latents(batch["cloth"])
            masked = latents(batch["person"] * (batch["mask"] < 0.5))
            mask = F.interpolate(batch["mask"], size=person.shape[-2:], mode="nearest")
        keep = (torch.rand(len(cloth)) >= CONDITION_DROPOUT).float()[:, None, None, None]
        target = torch.cat([person, cloth], dim=-2)
        condition = torch.cat([masked, cloth * keep], dim=-2)
        mask = torch.cat([mask, torch.zeros_like(mask)], dim=-2)
        noise = torch.randn_like(target)
        timesteps = torch.randint(0, noise_schedule.config.num_train_timesteps, (len(target),))
        noisy = noise_schedule.add_noise(target, noise, timesteps)
        prediction = unet(torch.cat([noisy, mask, condition], dim=1), timesteps, None, return_dict=False)[0]
        loss = F.mse_loss(prediction, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        run.losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(checkpoint, {"settings": settings, "attention": attention.state_dict(),
                                         "optimizer": optimizer.state_dict(), "step": step, "losses": run.losses,
                                         "rng": torch.get_rng_state()})
    bar.close()
    if not all(math.isfinite(loss) for loss in run.losses):
        raise FloatingPointError("the try-on loss diverged; lower the learning rate")
    run.attention = out_dir / "attention.safetensors"
    save_model(attention, str(run.attention))  # one copy of each weight the module list names twice
    return run
