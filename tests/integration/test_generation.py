"""txt2img, edit and inpaint on the real Triton server, against diffusers run in this process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from atelier.config import AtelierError
from atelier.images import paste_back, png_bytes
from atelier.triton_client import TritonClient

pytestmark = pytest.mark.integration
ONE_LEVEL = 1 / 255


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return (images[0] * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A product-like photo: smooth colour gradients with a darker garment shape (96x64, not square)."""
    y, x = np.mgrid[0:64, 0:96]
    rgb = np.stack([120 + x, 90 + y * 2, 200 - x], axis=-1).astype(np.float64)
    rgb[16:56, 28:68] *= 0.5
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def mask() -> Image.Image:
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (32, 20, 64, 48))
    return mask


@pytest.fixture(scope="module")
def reference(model_repository: Path):
    """The diffusers pipelines the repository was exported from, by name."""
    from export.diffusion import load_exported_pipeline

    return {kind: load_exported_pipeline(model_repository, kind) for kind in ("txt2img", "edit", "inpaint")}


def test_txt2img_equals_the_diffusers_sdxl_pipeline(triton: TritonClient, reference) -> None:
    image, seed = triton.generate("txt2img", prompt="a linen outfit for a beach wedding", seed=7, steps=6,
                                  guidance_scale=5.0, width=96, height=64)
    expected = reference["txt2img"](prompt="a linen outfit for a beach wedding", num_inference_steps=6,
                                    guidance_scale=5.0, width=96, height=64,
                                    generator=torch.Generator().manual_seed(7), output_type="np").images
    assert seed == 7 and image.shape == (64, 96, 3) and image.dtype == np.uint8
    assert image.std() > 5  # a real picture, not a flat one that would match anything
    assert mean_abs(image, to_uint8(expected)) < ONE_LEVEL


def test_txt2img_with_a_negative_prompt_equals_diffusers(triton: TritonClient, reference) -> None:
    image, _ = triton.generate("txt2img", prompt="a sage green shirt", negative_prompt="blurry, low quality",
                               seed=3, steps=5, guidance_scale=7.0, width=64, height=64)
    expected = reference["txt2img"](prompt="a sage green shirt", negative_prompt="blurry, low quality",
                                    num_inference_steps=5, guidance_scale=7.0, width=64, height=64,
                                    generator=torch.Generator().manual_seed(3), output_type="np").images
    assert mean_abs(image, to_uint8(expected)) < ONE_LEVEL


def test_edit_equals_the_diffusers_instruct_pix2pix_pipeline(triton: TritonClient, reference, photo) -> None:
    image, _ = triton.generate("edit", image=png_bytes(photo), instruction="make the jacket denim", seed=11,
                               steps=6, guidance_scale=7.5, image_guidance_scale=1.5)
    expected = reference["edit"](prompt="make the jacket denim", image=photo, num_inference_steps=6,
                                 guidance_scale=7.5, image_guidance_scale=1.5,
                                 generator=torch.Generator().manual_seed(11), output_type="np").images
    assert image.shape == (64, 96, 3)
    assert mean_abs(image, to_uint8(expected)) < ONE_LEVEL


@pytest.mark.parametrize("strength", [1.0, 0.6])
def test_inpaint_equals_diffusers_with_paste_back(triton: TritonClient, reference, photo, mask, strength) -> None:
    image, _ = triton.generate("inpaint", image=png_bytes(photo), mask=png_bytes(mask), prompt="a red silk scarf",
                               seed=5, steps=6, guidance_scale=7.5, strength=strength)
    expected = reference["inpaint"](prompt="a red silk scarf", image=photo, mask_image=mask, height=64, width=96,
                                    num_inference_steps=6, guidance_scale=7.5, strength=strength,
                                    generator=torch.Generator().manual_seed(5)).images[0]
    assert mean_abs(image, np.asarray(paste_back(photo, expected, mask, inside_only=True))) < ONE_LEVEL
    inside = np.asarray(mask) > 0
    assert mean_abs(image[inside], np.asarray(photo)[inside]) > 10 / 255  # the masked part was repainted


def test_inpaint_keeps_every_pixel_outside_the_mask(triton: TritonClient, photo, mask) -> None:
    image, _ = triton.generate("inpaint", image=png_bytes(photo), mask=png_bytes(mask), prompt="a denim jacket",
                               seed=1, steps=4)
    outside = np.asarray(mask) == 0
    assert outside.mean() > 0.5
    assert np.array_equal(image[outside], np.asarray(photo)[outside])
    assert np.array_equal(image[outside], np.asarray(photo)[outside])


def test_inpaint_with_an_empty_mask_returns_the_input(triton: TritonClient, photo) -> None:
    empty = Image.new("L", photo.size, 0)
    image, _ = triton.generate("inpaint", image=png_bytes(photo), mask=png_bytes(empty), prompt="a hat", seed=1)
    assert np.array_equal(image, np.asarray(photo))


def test_inpaint_scales_a_mask_of_the_same_aspect_and_refuses_another(triton: TritonClient, photo, mask) -> None:
    same, _ = triton.generate("inpaint", image=png_bytes(photo), mask=png_bytes(mask), prompt="a hat", seed=2,
                              steps=3)
    doubled = mask.resize((192, 128), Image.Resampling.NEAREST)
    scaled, _ = triton.generate("inpaint", image=png_bytes(photo), mask=png_bytes(doubled), prompt="a hat", seed=2,
                                steps=3)
    assert np.array_equal(same, scaled)
    with pytest.raises(AtelierError, match="mask is 64x64 but the image is 96x64"):
        triton.generate("inpaint", image=png_bytes(photo), mask=png_bytes(Image.new("L", (64, 64), 255)),
                        prompt="a hat")


def test_same_seed_same_image_other_seed_other_image_requested_size(triton: TritonClient) -> None:
    first, _ = triton.generate("txt2img", prompt="a navy checked coat", seed=42, steps=4, width=120, height=80)
    again, _ = triton.generate("txt2img", prompt="a navy checked coat", seed=42, steps=4, width=120, height=80)
    other, _ = triton.generate("txt2img", prompt="a navy checked coat", seed=43, steps=4, width=120, height=80)
    assert first.shape == (80, 120, 3)
    assert np.array_equal(first, again)
    assert mean_abs(first, other) > 5 / 255


def test_a_seed_left_out_is_drawn_and_returned(triton: TritonClient) -> None:
    image, seed = triton.generate("txt2img", prompt="a wool scarf", steps=2, width=64, height=64)
    replay, _ = triton.generate("txt2img", prompt="a wool scarf", steps=2, width=64, height=64, seed=seed)
    assert np.array_equal(image, replay)


def test_concurrent_requests_are_batched_without_changing_any_image(triton: TritonClient) -> None:
    prompts = [("a linen shirt", 1), ("a red dress", 2), ("a denim jacket", 3), ("a silk scarf", 4)]
    alone = [triton.generate("txt2img", prompt=p, seed=s, steps=3, width=64, height=64)[0] for p, s in prompts]
    with ThreadPoolExecutor(len(prompts)) as pool:
        together = list(pool.map(
            lambda ps: triton.generate("txt2img", prompt=ps[0], seed=ps[1], steps=3, width=64, height=64)[0],
            prompts))
    for single, batched in zip(alone, together):
        assert np.array_equal(single, batched)


def test_one_request_with_several_rows_returns_one_image_per_row(triton: TritonClient) -> None:
    import tritonclient.grpc as grpc

    rows = {"prompt": (np.array([[b"a linen shirt"], [b"a red dress"]], dtype=np.object_), "BYTES"),
            "seed": (np.array([[1], [2]], dtype=np.int64), "INT64"),
            "steps": (np.array([[3], [3]], dtype=np.int32), "INT32"),
            "width": (np.array([[64], [64]], dtype=np.int32), "INT32"),
            "height": (np.array([[64], [64]], dtype=np.int32), "INT32")}
    inputs = []
    for name, (value, dtype) in rows.items():
        tensor = grpc.InferInput(name, list(value.shape), dtype)
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    result = grpc.InferenceServerClient(triton.url).infer("txt2img", inputs)
    images = result.as_numpy("image")
    assert images.shape == (2, 64, 64, 3)
    assert result.as_numpy("seed").ravel().tolist() == [1, 2]
    second, _ = triton.generate("txt2img", prompt="a red dress", seed=2, steps=3, width=64, height=64)
    assert np.array_equal(images[1], second)


BAD_REQUESTS = [
    ("txt2img", {"prompt": ""}, "prompt is empty"),
    ("txt2img", {"prompt": "   "}, "prompt is empty"),
    ("txt2img", {"prompt": "linen " * 90}, "tokens long; at most 75 fit"),
    ("txt2img", {"prompt": "x" * 2500}, "at most 2000 are accepted"),
    ("txt2img", {"prompt": "a coat", "steps": 0}, "steps must be in [1, 100]"),
    ("txt2img", {"prompt": "a coat", "steps": 101}, "steps must be in [1, 100]"),
    ("txt2img", {"prompt": "a coat", "guidance_scale": -1.0}, "guidance_scale must be in [0, 30]"),
    ("txt2img", {"prompt": "a coat", "guidance_scale": 31.0}, "guidance_scale must be in [0, 30]"),
    ("txt2img", {"prompt": "a coat", "width": 100}, "width must be a multiple of 8"),
    ("txt2img", {"prompt": "a coat", "height": 4096}, "height must be a multiple of 8 in [64, 512]"),
    ("txt2img", {"prompt": "a coat", "seed": -1}, "seed must be in"),
    ("edit", {"image": b"definitely not an image", "instruction": "make it red"}, "image could not be decoded"),
    ("edit", {"image": b"", "instruction": "make it red"}, "image is empty"),
    ("edit", {"image": "photo", "instruction": ""}, "instruction is empty"),
    ("edit", {"image": "photo", "instruction": "x", "image_guidance_scale": 11.0}, "image_guidance_scale must be"),
    ("inpaint", {"image": "photo", "mask": b"\x89PNG broken", "prompt": "a hat"}, "mask could not be decoded"),
    ("inpaint", {"image": "photo", "mask": "mask", "prompt": "a hat", "strength": 0.0}, "strength must be in (0, 1]"),
    ("inpaint", {"image": "photo", "mask": "mask", "prompt": "a hat", "steps": 2, "strength": 0.3},
     "at least 1 denoising step"),
]


@pytest.mark.parametrize(("model", "values", "message"), BAD_REQUESTS)
def test_bad_requests_get_clear_errors_and_the_model_serves_the_next(triton: TritonClient, photo, mask, model,
                                                                     values, message) -> None:
    files = {"photo": png_bytes(photo), "mask": png_bytes(mask)}
    values = {k: files.get(v, v) if isinstance(v, str) and k in ("image", "mask") else v for k, v in values.items()}
    with pytest.raises(AtelierError) as error:
        triton.generate(model, **values)
    assert message in str(error.value)
    good = {"txt2img": {"prompt": "a coat"}, "edit": {"image": files["photo"], "instruction": "make it red"},
            "inpaint": {"image": files["photo"], "mask": files["mask"], "prompt": "a hat"}}[model]
    image, _ = triton.generate(model, **good, steps=2)
    assert image.ndim == 3


def test_a_bad_request_among_concurrent_ones_fails_alone(triton: TritonClient) -> None:
    def call(prompt: str):
        try:
            return triton.generate("txt2img", prompt=prompt, seed=5, steps=2, width=64, height=64)[0]
        except AtelierError as error:
            return error

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, ["a coat", "", "a hat", "a scarf"]))
    assert isinstance(results[1], AtelierError)
    assert all(isinstance(r, np.ndarray) for i, r in enumerate(results) if i != 1)
