"""Train the tiny generation networks on drawn demo-catalog products: `atelier train generators`.

1. Draw the training pool: every training look (training/generation_data.py) in `variants` variants.
2. Train one VAE on the pool (reconstruction plus a small KL term, as Stable Diffusion's, and the error of
   each 8x8 block's mean colour and of each pixel's chroma), then its decoder alone on whole pictures (the
   encoder, and so the latents, kept), and set its scaling factor so that latents have unit variance. All
   pipelines share it.
3. Train each UNet with its text encoder(s), from scratch or from the trained inpaint network, predicting the
   velocity of the target's noised latents (`SCHEDULE_CHANGES`: a schedule whose last step is pure noise),
   conditioned as its pipeline conditions it at inference (atelier/diffusion/pipelines/).
   - txt2img (SDXL): a caption through both text encoders and the text-time embedding; 10% of captions
     dropped: to zeros, SDXL's unconditional input when no negative prompt is given, or to a negative prompt's
     words ("blurry, low quality"), which name nothing drawn;
   - edit (instruct-pix2pix, from inpaint as it is from SD 1.5): an instruction and the unscaled latents of the
     picture before it; the text, the image or both dropped 5% of the time each, for its two guidance scales;
   - inpaint: a caption, the mask and the latents of the picture with the masked part blanked; the target
     has another look inside the mask (the caption's), or the same look;
   - tryon (CatVTON's recipe): the trained inpaint UNet, its cross-attention skipped, fine-tuned on synthetic
     people (training/viton_synthetic.py) to repaint the garment area with the garment stacked beside them;
     the garment dropped 10% of the time, for guidance.
4. Save each as a diffusers pipeline folder, which `atelier export --<kind>-source FOLDER` exports, with the
   guidance it samples best at (`SAMPLING`), written last: it marks the network trained.

What each network learns from, and its loss, is training/generator_objectives.py. Every step draws its batch
and noise from generators seeded by (seed, step), so a resumed run makes the same steps as a straight one.
Checkpoints every `checkpoint_every` steps; a finished network is kept and skipped by the next call.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, DiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel

from atelier.config import AtelierError
from models.diffusion import SAMPLING_FILE, tiny_pipeline
from models.diffusion.tryon import TryOnPipeline
from training.checkpoints import load_checkpoint, save_checkpoint
from training.generation_data import SIZE
from training.generator_objectives import LOSSES, People, Pool, latents, step_generators
from training.lanes import Relay, Tracker, end_with, train_in_lanes

# In training order: edit and try-on start from the trained inpaint network. In two lanes (train_generators),
# txt2img trains beside inpaint, then edit and try-on: the shortest time to all four on this machine.
KINDS = ("txt2img", "inpaint", "edit", "tryon")
DEPENDS_ON = {"edit": "inpaint", "tryon": "inpaint"}  # they start from the trained inpaint network
EMA_DECAY = 0.995  # about the last 200 steps
# The VAE's loss also counts the error of each 8x8 block's mean colour, and of each pixel's chroma (its red-green
# and blue-yellow opponent components, `_chroma`): per-pixel RGB error is mostly spent on lightness, edges and
# pattern, and a VAE trained on it alone learnt hue last (pink came back beige, navy green: at 1,200 steps the
# judge read 65% of colours right after the VAE, the ceiling of every pipeline's colour). At 1,000 steps, the
# chroma term took the judged colour through the VAE from 0.61 to 0.77 (weight 4; 16 spent the steps on hue and
# lost lightness: 0.42); docs/generation.md.
COLOUR_POOL, COLOUR_WEIGHT, CHROMA_WEIGHT = 8, 1.0, 4.0
# What the trained networks change in the tiny architecture (export/diffusion_models.py): a VAE deeper at the
# bottom with twice the latent channels, and one norm group per layer in both networks. Group norm sets each
# group's mean and spread over the picture; with the toy widths' groups of one or two channels, that is each
# channel's strength, and the VAE's reconstructions kept shape and pattern but not colour (beige came back pink).
VAE_CHANGES = {"block_out_channels": (8, 16, 32, 64), "latent_channels": 8, "norm_num_groups": 1}
UNET_CHANGES = {"norm_num_groups": 1, "sample_size": SIZE // 8}
# And in their schedule (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed"): the
# published one leaves some of the picture in its noisiest step, and on 16x16 latents that is the picture's
# colour, so a network trained on it took the colour from its starting noise, not from the prompt ("a green
# coat" came out yellow, brown or red by seed). Rescaled to end at pure noise, sampled from that last step, with
# velocity prediction (the noise is no target where there is nothing else).
SCHEDULE_CHANGES = {"rescale_betas_zero_snr": True, "prediction_type": "v_prediction", "timestep_spacing": "trailing"}
# How the trained networks sample best, saved beside their weights (models.diffusion.SAMPLING_FILE) to become
# their served defaults: the published guidance scales over-saturate a network this small into the wrong colour.
# The edit's were swept with `atelier eval generation`'s judge on other looks than the reported ones (its seed 1):
# (2, 1.5) changed 0.92 and kept 0.70, (3, 2.5) 0.88 and 0.70. More image guidance keeps less of the picture at
# this size (session 14's edit, at image guidance 1.5 / 2.5 / 4 / 6: kept 0.59 / 0.63 / 0.46 / 0.33).
SAMPLING = {"txt2img": {"guidance_scale": 2.0}, "edit": {"guidance_scale": 2.0, "image_guidance_scale": 1.5},
            "inpaint": {"guidance_scale": 3.0},
            # try-on: CatVTON's guidance; processed at the size it learnt (its synthetic people's), and pasted back
            "tryon": {"guidance_scale": 2.5, "processing_side": 128}}


def untrained(kind: str, seed: int) -> DiffusionPipeline:
    """`kind`'s tiny pipeline with the changes above, random weights from `seed`: what training starts from."""
    pipe = tiny_pipeline(kind)
    torch.manual_seed(seed)
    latent, published = VAE_CHANGES["latent_channels"], pipe.vae.config.latent_channels
    inputs = pipe.unet.config.in_channels  # latents (txt2img), with the image's (edit), and a mask (inpaint)
    unet = {**UNET_CHANGES, "in_channels": inputs // published * latent + inputs % published, "out_channels": latent}
    pipe.register_modules(vae=AutoencoderKL.from_config({**pipe.vae.config, **VAE_CHANGES}),
                          unet=UNet2DConditionModel.from_config({**pipe.unet.config, **unet}),
                          scheduler=type(pipe.scheduler).from_config(pipe.scheduler.config, **SCHEDULE_CHANGES))
    return pipe


@dataclass(frozen=True)
class GeneratorTrainConfig:
    variants: int = 4  # drawings of each look
    vae_steps: int = 3000  # without the chroma term, judged colour through it 0.66 / 0.78 / 0.91 at 1k / 2k / 3k
    vae_batch: int = 16
    vae_crop: int = 64  # the VAE is convolutional: it learns from crops, and runs on whole pictures
    vae_lr: float = 3e-3
    decoder_steps: int = 400  # then its decoder alone on whole pictures, as many pixels a step as the crops
    decoder_batch: int = 4
    decoder_lr: float = 5e-4
    txt2img_steps: int = 3500  # from the prompt alone: colour came last (0.60 at 1,500 steps, 0.70 at 3,000)
    # edit, from inpaint's weights (changed / kept): 0.72 / 0.61 at 1,000 steps, 0.90 / 0.75 at 3,000, 0.90 / 0.82
    # at 6,000 (atelier eval generation, 100 instructions)
    edit_steps: int = 6000
    inpaint_steps: int = 2500  # colour / pattern inside the mask 0.67 / 0.61 at 1,500 steps, 0.74 / 0.87 at 2,500
    tryon_steps: int = 800
    tryon_people: int = 512  # synthetic people (and their garments) drawn for try-on
    unet_batch: int = 32
    unet_lr: float = 2e-3
    seed: int = 0
    checkpoint_every: int = 250

    def steps(self, kind: str) -> int:
        return getattr(self, f"{kind}_steps")


def _train(name: str, modules: dict[str, torch.nn.Module], loss_at: Callable[[int], torch.Tensor], steps: int,
           lr: float, out_dir: Path, settings: dict, checkpoint_every: int, tracker: Tracker | Relay) -> list[float]:
    """The loop every network shares: AdamW on `modules`, resumable from out_dir/<name>.pt. The modules end with
    the exponential moving average of their weights over the steps (what diffusion models are sampled with)."""
    parameters = [p for module in modules.values() for p in module.parameters()]
    average = [p.detach().clone() for p in parameters]
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    path, step, losses = out_dir / f"{name}.pt", 0, []
    if state := load_checkpoint(path, {"settings": settings}):
        for key, module in modules.items():
            module.load_state_dict(state["modules"][key])
        optimizer.load_state_dict(state["optimizer"])
        step, losses, average = state["step"], state["losses"], state["average"]
    for module in modules.values():
        module.train()
    tracker.start(name, step)
    while step < steps:
        for group in optimizer.param_groups:  # cosine decay to a tenth, after a short warm-up
            group["lr"] = lr * min(1.0, (step + 1) / 100) * (0.55 + 0.45 * math.cos(math.pi * step / steps))
        loss = loss_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        with torch.no_grad():
            decay = min(EMA_DECAY, (1 + step) / (10 + step))
            for averaged, parameter in zip(average, parameters):
                averaged.lerp_(parameter, 1 - decay)
        step += 1
        losses.append(loss.item())
        tracker.step(name, step, float(np.mean(losses[-50:])))
        if step % checkpoint_every == 0 or step == steps:
            save_checkpoint(path, {"settings": settings, "step": step, "losses": losses, "average": average,
                                   "optimizer": optimizer.state_dict(),
                                   "modules": {k: m.state_dict() for k, m in modules.items()}})
    if not all(np.isfinite(losses)):
        raise FloatingPointError(f"the {name} loss diverged; lower the learning rate")
    with torch.no_grad():
        for parameter, averaged in zip(parameters, average):
            parameter.copy_(averaged)
    for module in modules.values():
        module.eval()
    return losses


def _chroma(images: torch.Tensor) -> torch.Tensor:
    """The red-green and blue-yellow opponent components of RGB `images` (N, 3, H, W): their hue and saturation."""
    red, green, blue = images.unbind(dim=1)
    return torch.stack([red - green, blue - (red + green) / 2], dim=1)


def _reconstruction_loss(decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    colour = F.mse_loss(F.avg_pool2d(decoded, COLOUR_POOL), F.avg_pool2d(images, COLOUR_POOL))
    chroma = F.mse_loss(_chroma(decoded), _chroma(images))
    return F.mse_loss(decoded, images) + COLOUR_WEIGHT * colour + CHROMA_WEIGHT * chroma


def _settings(config: GeneratorTrainConfig) -> dict:
    """What a checkpoint must share with a run to be resumed: the config, but the decoder's fine-tune, which
    changes nothing the encoder and the UNets learn from (the UNets learn the encoder's latents)."""
    return {k: v for k, v in asdict(config).items() if not k.startswith("decoder_")}


def train_vae(pool: Pool, out_dir: Path, config: GeneratorTrainConfig, tracker: Tracker) -> AutoencoderKL:
    """The VAE on crops (`vae_steps`), then its decoder alone on whole pictures (`decoder_steps`)."""
    folder = out_dir / "vae"
    if (folder / "config.json").exists():
        return AutoencoderKL.from_pretrained(folder)
    vae = untrained("txt2img", config.seed).vae
    crop = config.vae_crop

    def loss_at(step: int) -> torch.Tensor:
        rng, gen = step_generators(config.seed, step)
        picks = torch.tensor([rng.randrange(len(pool.images)) for _ in range(config.vae_batch)])
        x, y = (int(v) for v in torch.randint(0, pool.images.shape[-1] - crop + 1, (2,), generator=gen))
        images = pool.images[picks, :, y : y + crop, x : x + crop]
        posterior = vae.encode(images).latent_dist
        return _reconstruction_loss(vae.decode(posterior.sample(gen)).sample, images) + 1e-6 * posterior.kl().mean()

    _train("vae", {"vae": vae}, loss_at, config.vae_steps, config.vae_lr, out_dir, {"network": "vae",
           **_settings(config)}, config.checkpoint_every, tracker)
    tracker.finish("vae")
    _fine_tune_decoder(vae, pool, out_dir, config, tracker)
    with torch.no_grad():
        latents = torch.cat([vae.encode(chunk).latent_dist.mode() for chunk in pool.images.split(256)])
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    pool.latents = latents * vae.config.scaling_factor  # what the UNets learn from: encoded once
    vae.save_pretrained(folder)
    return vae


def _fine_tune_decoder(vae: AutoencoderKL, pool: Pool, out_dir: Path, config: GeneratorTrainConfig,
                       tracker: Tracker) -> None:
    """The decoder alone on whole pictures, the encoder (and so the latents) kept. Its norms' single group spans
    the whole picture, and a decoder trained on crops only drew whole pictures lighter (+6 to +8 of 255 on every
    channel, grey turned greenish): 400 steps on whole pictures took that to +2 to +3, and the judged colour
    through the VAE from 0.91 to 0.95 (docs/generation.md)."""
    def loss_at(step: int) -> torch.Tensor:
        rng, gen = step_generators(config.seed, step)
        images = pool.images[[rng.randrange(len(pool.images)) for _ in range(config.decoder_batch)]]
        with torch.no_grad():
            latents = vae.encode(images).latent_dist.sample(gen)
        return _reconstruction_loss(vae.decode(latents).sample, images)

    _train("vae-decoder", {"decoder": vae.decoder, "post_quant_conv": vae.post_quant_conv}, loss_at,
           config.decoder_steps, config.decoder_lr, out_dir, {"network": "vae-decoder", **asdict(config)},
           config.checkpoint_every, tracker)
    tracker.finish("vae-decoder")


def _starting_point(kind: str, vae: AutoencoderKL, out_dir: Path, config: GeneratorTrainConfig) -> DiffusionPipeline:
    """`kind`'s pipeline over the trained `vae` as its training starts: random weights, except those that start
    from the trained inpaint network (`DEPENDS_ON`), as the published ones start from Stable Diffusion: try-on
    from its UNet and scheduler, as CatVTON from SD 1.5 inpainting; edit from its UNet and text encoder, as
    instruct-pix2pix from SD 1.5, its picture read through the weights inpaint reads the unmasked picture with."""
    if kind not in DEPENDS_ON:
        pipe = untrained(kind, config.seed)
        pipe.register_modules(vae=vae)
        return pipe
    inpaint = out_dir / DEPENDS_ON[kind]
    unet = UNet2DConditionModel.from_pretrained(inpaint / "unet")
    if kind == "tryon":
        return TryOnPipeline(unet, vae, DDIMScheduler.from_pretrained(inpaint / "scheduler"))
    pipe = untrained(kind, config.seed)
    pipe.register_modules(vae=vae)
    weights, latent = unet.state_dict(), VAE_CHANGES["latent_channels"]
    # inpaint reads [noisy latents, mask, masked latents]; edit [noisy latents, the picture's unscaled latents]
    conv_in = weights["conv_in.weight"]
    picture = conv_in[:, latent + 1 :] * vae.config.scaling_factor
    weights["conv_in.weight"] = torch.cat([conv_in[:, :latent], picture], dim=1)
    pipe.unet.load_state_dict(weights)
    pipe.text_encoder.load_state_dict(CLIPTextModel.from_pretrained(inpaint / "text_encoder").state_dict())
    return pipe


def train_pipeline(kind: str, vae: AutoencoderKL, pool: Pool, out_dir: Path, config: GeneratorTrainConfig,
                   tracker: Tracker | Relay) -> Path:
    """Train `kind`'s UNet and text encoder(s) over the trained `vae`; returns the saved pipeline's folder."""
    folder = out_dir / kind
    if _finished(folder):
        return folder
    pipe = _starting_point(kind, vae, out_dir, config)
    if kind == "tryon":  # synthetic people; the pool's looks are not its data
        data = People(config.tryon_people, vae, tracker.bars)
    else:
        if pool.latents is None:
            pool.latents = latents(vae, pool.images)
        data = pool
    schedule = DDPMScheduler.from_config(pipe.scheduler.config)
    modules = {name: getattr(pipe, name) for name in ("unet", "text_encoder", "text_encoder_2")
               if getattr(pipe, name, None) is not None}
    settings = {"network": kind, "vae": float(vae.config.scaling_factor), "schedule": SCHEDULE_CHANGES,
                **_settings(config)}
    loss_at = LOSSES[kind](pipe, data, schedule, config.seed, config.unet_batch)
    _train(kind, modules, loss_at, config.steps(kind), config.unet_lr, out_dir, settings, config.checkpoint_every,
           tracker)
    pipe.save_pretrained(folder)
    (folder / SAMPLING_FILE).write_text(json.dumps(SAMPLING[kind]))
    tracker.finish(kind)
    return folder


def _finished(folder: Path) -> bool:
    """A network's training has finished when its sampling settings, written last, are there (folders trained
    before they were written, on the published schedule, are trained again)."""
    return (folder / "model_index.json").exists() and (folder / SAMPLING_FILE).exists()


def trained_folders(out_dir: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, Path]:
    """{kind: pipeline folder} for those of `kinds` whose training in `out_dir` has finished."""
    return {kind: Path(out_dir) / kind for kind in kinds if _finished(Path(out_dir) / kind)}


def train_generators(out_dir: Path, config: GeneratorTrainConfig = GeneratorTrainConfig(),
                     kinds: tuple[str, ...] = KINDS, resume: bool = True, progress: bool = True,
                     on_trained: Callable[[str, Path], None] | None = None, lanes: int = 1) -> dict[str, Path]:
    """Train the VAE, then each of `kinds`; returns {kind: pipeline folder}. Finished networks are reused, and
    an interrupted one resumes from its checkpoint, unless `resume` is False. `on_trained(kind, folder)` is
    called as each network this call trains is saved (`atelier up` serves it then). With `lanes` > 1, that many
    networks train side by side after the VAE, each in its own process on its share of the CPU's threads (two
    lanes of one thread do 1.6x the work of one process on two, on this 2-core machine)."""
    out_dir = Path(out_dir)
    if not resume and out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        if kind in DEPENDS_ON and DEPENDS_ON[kind] not in kinds and not _finished(out_dir / DEPENDS_ON[kind]):
            raise AtelierError(f"{kind} is fine-tuned from the trained {DEPENDS_ON[kind]} network: train "
                               f"{DEPENDS_ON[kind]} first (or with it)")
    vae_trained = (out_dir / "vae" / "config.json").exists()
    finished = [*(["vae", "vae-decoder"] if vae_trained else []), *trained_folders(out_dir, kinds)]
    plan = {"vae": config.vae_steps, "vae-decoder": config.decoder_steps, **{k: config.steps(k) for k in kinds}}
    tracker = Tracker(out_dir, plan, finished, progress)
    pool = Pool(config.variants, progress)
    vae = train_vae(pool, out_dir, config, tracker)
    todo = [kind for kind in KINDS if kind in kinds and kind not in finished]  # each after what it starts from
    if lanes > 1 and len(todo) > 1:
        served = None if on_trained is None else lambda kind: on_trained(kind, out_dir / kind)
        train_in_lanes(todo, DEPENDS_ON, _lane, (out_dir, config), tracker, lanes, served)
        return trained_folders(out_dir, kinds)
    for kind in todo:
        train_pipeline(kind, vae, pool, out_dir, config, tracker)
        if on_trained is not None:
            on_trained(kind, out_dir / kind)
    return trained_folders(out_dir, kinds)


def _lane(kind: str, out_dir: Path, config: GeneratorTrainConfig, threads: int, messages: multiprocessing.Queue,
          parent: int) -> None:
    """A lane's process (training/lanes.py): train `kind` over the trained VAE, reporting to the main process
    (`parent`) through `messages`; it ends with the main process, however that ends (also before this lane got
    here)."""
    end_with(parent)
    torch.set_num_threads(threads)
    try:
        vae = AutoencoderKL.from_pretrained(out_dir / "vae")
        train_pipeline(kind, vae, Pool(config.variants, progress=False), out_dir, config, Relay(messages))
    except BaseException:
        messages.put(("failed", kind, traceback.format_exc()))
        raise


def load_trained(out_dir: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, DiffusionPipeline]:
    """The trained pipelines in `out_dir` (those of `kinds` whose training has finished), as export loads them."""
    from models.diffusion import load_diffusers_pipeline

    found = trained_folders(out_dir, kinds)
    if not found:
        raise AtelierError(f"{out_dir} holds no trained generators: run `atelier train generators`")
    return {kind: load_diffusers_pipeline(kind, "tiny", str(folder)) for kind, folder in found.items()}
