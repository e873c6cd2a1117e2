"""The generator trainer: its drawn data, determinism under a seed, and resuming where it stopped."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from diffusers import DDPMScheduler

import training.train_generators as trainer
from atelier.diffusion.exported import Build
from atelier.families import MODEL_PROFILES
from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS
from export.diffusion import weights_sha256, write_assets
from training.generation_data import HELD_OUT_PAIRS, Look, caption, draw, instruction, looks, one_apart, random_mask

QUICK = trainer.GeneratorTrainConfig(variants=1, vae_steps=3, vae_batch=2, unet_steps=3, txt2img_steps=3, unet_batch=2,
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
