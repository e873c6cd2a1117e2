"""The generator trainer: its drawn data, determinism under a seed, and resuming where it stopped."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

import training.train_generators as trainer
from atelier.config import AtelierError
from atelier.diffusion.exported import Build
from atelier.diffusion.pipelines.tryon import tryon_request
from atelier.families import MODEL_PROFILES
from atelier.training_progress import TrainingProgress
from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS
from export.diffusion import weights_sha256, write_assets
from models.diffusion import load_diffusers_pipeline
from training.generation_data import (
    HELD_OUT_PAIRS,
    SIZE,
    Look,
    caption,
    draw,
    instruction,
    looks,
    one_apart,
    random_mask,
)
from training.generator_objectives import TRYON_SIZE
from training.viton_synthetic import synthetic_pair

QUICK = trainer.GeneratorTrainConfig(variants=1, vae_steps=3, vae_batch=2, decoder_steps=2, decoder_batch=2,
                                     txt2img_steps=3, edit_steps=3,
                                     inpaint_steps=3, tryon_steps=3, tryon_people=2, unet_batch=2,
                                     checkpoint_every=2)


def test_held_out_pairs_leave_every_garment_and_colour_in_training() -> None:
    trained, held = looks(), looks(held_out=True)
    assert len(trained) + len(held) == len(GARMENTS) * len(COLOURS) * len(PATTERNS)
    assert {(look.garment, look.color) for look in held} == HELD_OUT_PAIRS
    assert {look.garment for look in trained} == set(GARMENTS)
    assert {look.color for look in trained} == set(COLOURS)


def test_captions_name_the_look_and_instructions_the_change() -> None:
    rng = random.Random(0)
    look = Look("dress", "red", "polka dot")
    assert caption(look) == "a red polka dot dress"
    assert all("red" in caption(look, rng) and "dress" in caption(look, rng) for _ in range(50))
    navy = Look("dress", "navy", "polka dot")
    assert all("navy" in instruction(look, navy, rng) for _ in range(20))
    assert one_apart(look, rng, set(looks())) != look


def test_the_same_variant_of_two_looks_differs_only_in_the_garment_fabric() -> None:
    red, navy = (np.asarray(draw(Look("shirt", colour, "solid"), 3), dtype=int) for colour in ("red", "navy"))
    background = np.asarray(draw(Look("shirt", "red", "solid"), 3))[0, 0]
    assert (np.abs(red - navy).sum(axis=-1) > 0).mean() < 0.6  # the background and the outline's place agree
    assert np.array_equal(red[0, 0], background) and np.array_equal(navy[0, 0], red[0, 0])


def test_masks_are_binary_and_paint_something() -> None:
    for seed in range(20):
        mask = np.asarray(random_mask(random.Random(seed)))
        assert set(np.unique(mask)) <= {0, 255} and 0.02 < (mask > 0).mean() < 0.95


def _weights(out: Path) -> dict[str, str]:
    loaded = trainer.load_trained(out, ("txt2img",))
    return {kind: weights_sha256(pipe) for kind, pipe in loaded.items()}


def test_the_vae_chroma_sees_hue_and_saturation_not_lightness() -> None:
    def pixel(rgb: tuple[int, int, int]) -> torch.Tensor:
        return (torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1)[None, :, None, None]

    greys = [trainer._chroma(pixel((v, v, v))) for v in (30, 128, 246)]
    assert all(torch.allclose(grey, torch.zeros(1, 2, 1, 1), atol=1e-6) for grey in greys)
    navy, green, pink, beige = (trainer._chroma(pixel(COLOURS[c])) for c in ("navy", "green", "pink", "beige"))
    assert navy[0, 1] > 0 > green[0, 1]  # blue against yellow: navy to the blue side, green to the yellow
    assert pink[0, 0] > beige[0, 0] > 0  # red against green: pink the redder, beige barely


def test_training_is_deterministic_and_resumes_where_it_stopped(tmp_path: Path, monkeypatch) -> None:
    straight = _trained(tmp_path / "straight")
    assert _trained(tmp_path / "again") == straight

    loss = trainer.LOSSES["txt2img"]

    def stopping(*args):  # the first run is stopped at step 3, after the checkpoint at step 2
        loss_at = loss(*args)

        def stopped(step: int):
            if step == 2:
                raise KeyboardInterrupt
            return loss_at(step)
        return stopped

    monkeypatch.setitem(trainer.LOSSES, "txt2img", stopping)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_generators(tmp_path / "resumed", QUICK, kinds=("txt2img",), progress=False)
    assert (tmp_path / "resumed" / "txt2img.pt").exists() and not (tmp_path / "resumed" / "txt2img").exists()
    monkeypatch.setitem(trainer.LOSSES, "txt2img", loss)
    assert _trained(tmp_path / "resumed") == straight


def test_the_decoder_fine_tune_keeps_the_encoder_and_so_the_latents_the_unets_learn(tmp_path: Path) -> None:
    out = tmp_path / "out"
    trainer.train_generators(out, QUICK, kinds=(), progress=False)
    on_crops = torch.load(out / "vae.pt", weights_only=True)["average"]  # the VAE before its decoder's fine-tune
    vae = trainer.AutoencoderKL.from_pretrained(out / "vae")
    names = [name for name, _ in vae.named_parameters()]
    kept = {name: torch.equal(before, after) for name, before, after in zip(names, on_crops, vae.parameters())}
    assert all(same for name, same in kept.items() if name.startswith(("encoder.", "quant_conv.")))
    assert not all(same for name, same in kept.items() if name.startswith("decoder."))
    assert TrainingProgress.read(out).finished == ["vae", "vae-decoder"]


def _trained(out: Path) -> dict[str, str]:
    trainer.train_generators(out, QUICK, kinds=("txt2img",), progress=False)
    return _weights(out)


def test_trained_networks_start_from_pure_noise_and_are_served_with_their_own_guidance(tmp_path: Path) -> None:
    trainer.train_generators(tmp_path / "out", QUICK, kinds=("txt2img",), progress=False)
    pipe = trainer.load_trained(tmp_path / "out", ("txt2img",))["txt2img"]
    assert DDPMScheduler.from_config(pipe.scheduler.config).alphas_cumprod[-1] == 0  # nothing of the picture left
    sampler = pipe.scheduler
    sampler.set_timesteps(20)
    assert int(sampler.timesteps[0]) == 999  # and sampling starts there

    build = Build("tiny", str(tmp_path / "out" / "txt2img"))
    served = write_assets("txt2img", pipe, tmp_path / "version", build, parity={}).defaults
    assert served["guidance_scale"] == trainer.SAMPLING["txt2img"]["guidance_scale"]
    assert served["guidance_scale"] != MODEL_PROFILES["tiny"].defaults["txt2img"]["guidance_scale"]
    assert served["steps"] == MODEL_PROFILES["tiny"].defaults["txt2img"]["steps"]


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_tryon_is_fine_tuned_from_the_trained_inpaint_network_and_served_whole_at_its_size(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(AtelierError, match="train inpaint first"):
        trainer.train_generators(out, QUICK, kinds=("tryon",), progress=False)
    trainer.train_generators(out, QUICK, kinds=("inpaint", "tryon"), progress=False)
    inpaint, tryon = (UNet2DConditionModel.from_pretrained(out / kind / "unet") for kind in ("inpaint", "tryon"))
    architecture = [{k: v for k, v in unet.config.items() if k != "_name_or_path"} for unet in (inpaint, tryon)]
    assert architecture[0] == architecture[1]  # CatVTON's recipe: the inpainting UNet, fine-tuned
    assert any(not torch.equal(a, b) for a, b in zip(inpaint.parameters(), tryon.parameters()))

    pipe = load_diffusers_pipeline("tryon", "tiny", str(out / "tryon"))  # its own VAE: nothing downloaded
    vae = trainer.AutoencoderKL.from_pretrained(out / "vae")
    assert all(torch.equal(a, b) for a, b in zip(pipe.vae.parameters(), vae.parameters()))
    served = write_assets("tryon", pipe, tmp_path / "version", Build("tiny", str(out / "tryon")), parity={}).defaults
    assert served["processing_side"] == TRYON_SIZE[0]
    person = synthetic_pair(0, (512, 384), split="test")
    request = tryon_request({"person": _png(person.person), "garment": _png(person.cloth),
                             "mask": _png(person.agnostic_mask)}, served, max_side=512)
    assert request.size == (96, 128) and request.output_size == (384, 512)  # learnt at 128 px, pasted back


def test_edit_starts_from_the_trained_inpaint_network_reading_its_picture_as_inpaint_reads_the_unmasked_one(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(AtelierError, match="train inpaint first"):
        trainer.train_generators(out, QUICK, kinds=("edit",), progress=False)
    trainer.train_generators(out, QUICK, kinds=("inpaint",), progress=False)
    vae = trainer.AutoencoderKL.from_pretrained(out / "vae")
    edit = trainer._starting_point("edit", vae, out, QUICK)
    inpaint = load_diffusers_pipeline("inpaint", "tiny", str(out / "inpaint"))
    assert all(torch.equal(a, b) for a, b in zip(edit.text_encoder.parameters(), inpaint.text_encoder.parameters()))
    torch.manual_seed(0)
    noisy, picture = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    text = torch.randn(2, 77, edit.unet.config.cross_attention_dim)
    t = torch.tensor([10, 900])
    with torch.no_grad():  # nothing masked: inpaint sees the whole picture's (scaled) latents, edit them unscaled
        as_inpaint = inpaint.unet(torch.cat([noisy, torch.zeros(2, 1, 16, 16), picture], dim=1), t, text).sample
        scaled = picture / vae.config.scaling_factor
        as_edit = edit.unet(torch.cat([noisy, scaled], dim=1), t, text).sample
    torch.testing.assert_close(as_edit, as_inpaint, rtol=1e-4, atol=1e-5)


def test_a_lora_trains_on_the_trained_txt2img_at_its_size_predicting_its_velocity(tmp_path: Path) -> None:
    from PIL import Image

    from training.lora_data import LoraSource
    from training.train_lora import LoraTrainConfig, train_lora

    trainer.train_generators(tmp_path / "out", QUICK, kinds=("txt2img",), progress=False)
    rows = [{"image": draw(Look("dress", "sage", "solid"), v), "caption": "soft sage dress for spring"}
            for v in range(2)]
    config = LoraTrainConfig(steps=2, batch_size=1, checkpoint_every=2, validation_every=2,
                             validation_prompts=("a dress",), validation_inference_steps=2)
    run = train_lora([LoraSource("trends", rows)], tmp_path / "lora", config, source=str(tmp_path / "out" / "txt2img"),
                     progress=False)
    assert run.lora_path.exists() and all(np.isfinite(run.losses))
    assert Image.open(run.validation_images[0]).size == (SIZE, SIZE)  # the base's native size


def test_lanes_train_networks_side_by_side_each_after_what_it_starts_from(tmp_path: Path) -> None:
    out, served = tmp_path / "out", []
    folders = trainer.train_generators(out, QUICK, kinds=("txt2img", "inpaint", "tryon"), progress=False,
                                       on_trained=lambda kind, folder: served.append((kind, folder)), lanes=2)
    assert set(folders) == {"txt2img", "inpaint", "tryon"} and sorted(served) == sorted(folders.items())
    assert served.index(("inpaint", out / "inpaint")) < served.index(("tryon", out / "tryon"))
    progress = TrainingProgress.read(out)
    assert progress.done and not progress.training
    assert sorted(progress.finished) == sorted(["vae", "vae-decoder", *folders])
    inpaint, tryon = (UNet2DConditionModel.from_pretrained(out / kind / "unet") for kind in ("inpaint", "tryon"))
    assert any(not torch.equal(a, b) for a, b in zip(inpaint.parameters(), tryon.parameters()))


def test_a_failing_lane_stops_the_others_with_its_error(tmp_path: Path) -> None:
    broken = trainer.GeneratorTrainConfig(**{**QUICK.__dict__, "unet_lr": -1.0})
    with pytest.raises(AtelierError, match=r"training (txt2img|inpaint) failed: ValueError: Invalid learning rate"):
        trainer.train_generators(tmp_path / "out", broken, kinds=("txt2img", "inpaint"), progress=False, lanes=2)


def test_progress_of_networks_training_side_by_side_reads_as_one_line() -> None:
    progress = TrainingProgress({"vae": 10, "txt2img": 100, "inpaint": 50, "edit": 100}, finished=["vae"])
    progress.start("txt2img", 0)
    progress.start("inpaint", 0)
    progress.training["txt2img"].update(step=40, started_at=progress.training["txt2img"]["started_at"] - 40)
    progress.training["inpaint"].update(step=20, started_at=progress.training["inpaint"]["started_at"] - 40)
    progress.updated_at = max(state["started_at"] for state in progress.training.values()) + 40
    assert progress.steps_done == 10 + 40 + 20
    # 190 steps left at a mean 1.5 s a step, two at a time
    assert progress.seconds_left() == pytest.approx(190 * 1.5 / 2, rel=0.01)
    assert progress.describe() == ("training txt2img (step 40 of 100) and inpaint (step 20 of 50), then edit; "
                                   "about 2 min left")
    progress.finish("inpaint")
    assert progress.finished == ["vae", "inpaint"] and list(progress.training) == ["txt2img"]


def test_lanes_end_with_the_main_process_however_it_ends(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    import psutil

    endless = {**QUICK.__dict__, "txt2img_steps": 10**6, "inpaint_steps": 10**6, "checkpoint_every": 10**6}
    script = (f"from training.train_generators import GeneratorTrainConfig, train_generators\n"
              f"train_generators({str(tmp_path)!r}, GeneratorTrainConfig(**{endless!r}), kinds=('txt2img', 'inpaint'),"
              f" progress=False, lanes=2)")
    main = subprocess.Popen([sys.executable, "-c", script])
    deadline, lanes = time.monotonic() + 120, []
    while time.monotonic() < deadline and len(lanes) < 2:  # both lanes started, maybe still importing
        time.sleep(0.2)
        lanes = [child for child in psutil.Process(main.pid).children() if "spawn_main" in " ".join(child.cmdline())]
    assert len(lanes) == 2, "both lanes should have started"
    main.kill()  # no handler runs: the lanes must notice on their own
    main.wait()
    gone, alive = psutil.wait_procs(lanes, timeout=15)
    assert not alive, f"lanes still training after the main process died: {[p.pid for p in alive]}"
