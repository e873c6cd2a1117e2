"""Virtual try-on on the real Triton server, against the same loop in this process (ONNX Runtime and PyTorch)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from atelier.config import AtelierError
from atelier.diffusion.networks import OnnxNetworks
from atelier.diffusion.pipelines import load_pipeline
from atelier.images import feather_radius, png_bytes
from atelier.triton_client import TritonClient

pytestmark = pytest.mark.integration
ONE_LEVEL = 1 / 255


def erode(mask: Image.Image, radius: int) -> Image.Image:
    return mask.filter(ImageFilter.MinFilter(2 * radius + 1))


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255)


@pytest.fixture(scope="module")
def person() -> Image.Image:
    """A figure on a studio backdrop (96x128, portrait like the VITON-HD photos)."""
    image = Image.new("RGB", (96, 128), (226, 220, 210))
    draw = ImageDraw.Draw(image)
    draw.ellipse((38, 6, 58, 28), fill=(205, 160, 130))
    draw.rectangle((30, 30, 66, 78), fill=(40, 60, 150))  # the shirt to replace
    draw.rectangle((34, 78, 62, 124), fill=(50, 50, 50))
    return image


@pytest.fixture(scope="module")
def mask() -> Image.Image:
    mask = Image.new("L", (96, 128), 0)
    ImageDraw.Draw(mask).rectangle((28, 28, 68, 80), fill=255)
    return mask


def garment(colour: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (80, 96), (255, 255, 255))
    ImageDraw.Draw(image).polygon([(10, 10), (70, 10), (76, 90), (4, 90)], fill=colour)
    return png_bytes(image)


def test_tryon_through_triton_equals_the_loop_in_process(triton: TritonClient, model_repository: Path, person,
                                                         mask) -> None:
    from export.diffusion import TorchNetworks, load_exported_pipeline

    values = {"person": png_bytes(person), "garment": garment((200, 30, 40)), "mask": png_bytes(mask),
              "garment_type": "upper", "seed": 4, "steps": 4, "guidance_scale": 2.5}
    image, seed = triton.generate("tryon", **values)
    version_dir = model_repository / "tryon" / "1"
    onnx = load_pipeline(version_dir, OnnxNetworks(model_repository))
    pytorch = load_pipeline(version_dir, TorchNetworks("tryon", load_exported_pipeline(model_repository, "tryon")))
    assert seed == 4 and image.shape == (128, 96, 3) and image.dtype == np.uint8
    inside = np.asarray(mask) > 0
    assert mean_abs(image[inside], np.asarray(person)[inside]) > 10 / 255  # the masked part was repainted
    assert mean_abs(image, onnx([onnx.parse(values)])[0]) < ONE_LEVEL
    assert mean_abs(image, pytorch([pytorch.parse(values)])[0]) < ONE_LEVEL


@pytest.mark.parametrize("guidance_scale", [2.5, 1.0])  # with and without the garment-free branch
def test_pixels_outside_the_mask_are_the_person_photo(triton: TritonClient, person, mask, guidance_scale) -> None:
    image, _ = triton.generate("tryon", person=png_bytes(person), garment=garment((20, 160, 60)),
                               mask=png_bytes(mask), seed=1, steps=3, guidance_scale=guidance_scale)
    outside, inside = np.asarray(mask) == 0, np.asarray(erode(mask, 2 * feather_radius(mask.size))) > 0
    assert np.array_equal(image[outside], np.asarray(person)[outside])
    assert mean_abs(image[inside], np.asarray(person)[inside]) > 10 / 255


def test_the_result_depends_on_the_garment_and_the_seed_only_as_it_should(triton: TritonClient, person,
                                                                          mask) -> None:
    def tryon(colour, seed):
        return triton.generate("tryon", person=png_bytes(person), garment=garment(colour), mask=png_bytes(mask),
                               seed=seed, steps=3)[0]

    red = tryon((200, 30, 40), 8)
    assert np.array_equal(red, tryon((200, 30, 40), 8))
    assert not np.array_equal(red, tryon((200, 30, 40), 9))
    assert not np.array_equal(red, tryon((30, 30, 200), 8))


def test_a_mask_of_the_same_aspect_is_scaled(triton: TritonClient, person, mask) -> None:
    half = mask.resize((48, 64), Image.Resampling.NEAREST)
    image, _ = triton.generate("tryon", person=png_bytes(person), garment=garment((200, 30, 40)),
                               mask=png_bytes(half), seed=2, steps=2)
    assert image.shape == (128, 96, 3)
    assert np.array_equal(image[:, :10], np.asarray(person)[:, :10])


def test_concurrent_requests_are_batched_without_changing_any_image(triton: TritonClient, person, mask) -> None:
    def call(seed: int) -> np.ndarray:
        return triton.generate("tryon", person=png_bytes(person), garment=garment((200, 30, 40)),
                               mask=png_bytes(mask), seed=seed, steps=2)[0]

    alone = [call(seed) for seed in (1, 2, 3)]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(call, (1, 2, 3)))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))


BAD_REQUESTS = [
    ({"mask": None}, "no mask was given and no human-parsing model is configured"),
    ({"mask": "square"}, "mask is 64x64 but the image is 96x128"),
    ({"mask": "empty"}, "the mask is empty"),
    ({"mask": b"not a mask"}, "mask could not be decoded"),
    ({"person": b"not a photo"}, "person could not be decoded"),
    ({"garment": b"GIF89a broken"}, "garment could not be decoded"),
    ({"person": b""}, "person is empty"),
    ({"garment_type": "hat"}, "garment_type must be one of upper, lower, overall"),
    ({"steps": 0}, "steps must be in"),
    ({"guidance_scale": -1.0}, "guidance_scale must be in"),
]


@pytest.mark.parametrize(("change", "message"), BAD_REQUESTS)
def test_bad_requests_get_clear_errors_and_the_model_serves_the_next(triton: TritonClient, person, mask, change,
                                                                     message) -> None:
    masks = {"square": png_bytes(Image.new("L", (64, 64), 255)), "empty": png_bytes(Image.new("L", (96, 128)))}
    good = {"person": png_bytes(person), "garment": garment((200, 30, 40)), "mask": png_bytes(mask), "steps": 2}
    bad = {**good, **{k: masks[v] if isinstance(v, str) and k == "mask" else v for k, v in change.items()}}
    with pytest.raises(AtelierError) as error:
        triton.generate("tryon", **bad)
    assert message in str(error.value)
    assert triton.generate("tryon", **good)[0].shape == (128, 96, 3)
