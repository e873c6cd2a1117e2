"""Image helpers: sizes, masks and the paste-back that keeps a product photo's pixels outside the mask."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from atelier.images import binary_mask, decode_image, dilated, feather_radius, fit_within, paste_back, png_bytes
from tests.phone_photos import encoded, variants


@pytest.mark.parametrize(("size", "max_side", "expected"), [
    ((1000, 500), 512, (512, 256)),
    ((100, 70), 512, (96, 64)),
    ((512, 512), 512, (512, 512)),
    ((300, 4000), 1536, (112, 1536)),
])
def test_fit_within_keeps_the_aspect_and_rounds_to_multiples_of_8(size, max_side, expected):
    assert fit_within(*size, max_side) == expected


def test_binary_mask_thresholds_and_scales_a_mask_of_the_same_aspect():
    mask = Image.fromarray(np.array([[0, 127], [128, 255]], dtype=np.uint8)).resize((40, 20), Image.NEAREST)
    scaled = binary_mask(mask, (80, 40))
    assert scaled.size == (80, 40) and set(np.unique(np.asarray(scaled))) == {0, 255}
    assert np.asarray(scaled)[0, 0] == 0 and np.asarray(scaled)[0, 79] == 0 and np.asarray(scaled)[39, 0] == 255


def test_binary_mask_refuses_another_aspect_ratio():
    with pytest.raises(ValueError, match="mask is 40x40 but the image is 80x40"):
        binary_mask(Image.new("L", (40, 40)), (80, 40))


def test_paste_back_keeps_pixels_beyond_the_dilated_mask_and_takes_the_generated_ones_inside():
    rng = np.random.default_rng(0)
    original = Image.fromarray(rng.integers(0, 256, (128, 160, 3), dtype=np.uint8))
    generated = Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))  # another size: scaled up
    mask = Image.new("L", original.size, 0)
    mask.paste(255, (60, 40, 100, 90))
    result = np.asarray(paste_back(original, generated, mask)).astype(int)
    radius = feather_radius(original.size)
    outside = np.asarray(dilated(mask, 2 * radius)) == 0
    inside = np.asarray(mask) > 0
    assert np.array_equal(result[outside], np.asarray(original).astype(int)[outside])
    upscaled = np.asarray(generated.resize(original.size, Image.Resampling.LANCZOS)).astype(int)
    assert np.array_equal(result[inside], upscaled[inside])
    edge = ~outside & ~inside
    assert edge.any() and not np.array_equal(result[edge], np.asarray(original).astype(int)[edge])


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "photo is empty"),
    (b"GIF89a not really", "photo could not be decoded"),
    (png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)))[:200],
     "photo data is truncated or corrupt"),
])
def test_decode_image_names_what_is_wrong(raw, message):
    with pytest.raises(ValueError, match=message):
        decode_image(raw, "photo")


def test_paste_back_inside_only_keeps_every_pixel_outside_the_mask():
    original, generated = Image.new("RGB", (64, 48), (10, 20, 30)), Image.new("RGB", (64, 48), (200, 200, 200))
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (16, 12, 48, 36))
    result = np.asarray(paste_back(original, generated, mask, inside_only=True)).astype(int)
    assert (result[np.asarray(mask) == 0] == [10, 20, 30]).all()
    edge = 2 * feather_radius(original.size)  # the soft edge's width, inside the mask
    assert (result[12 + edge : 36 - edge, 16 + edge : 48 - edge] == 200).all()
    assert 10 < result[24, 16, 0] < 200  # on the mask's border: a blend


def test_a_fingerprint_survives_re_encoding_and_resizing_but_tells_colours_apart():
    from atelier.images import fingerprint, same_picture

    red = Image.new("RGB", (128, 160), (240, 240, 236))
    red.paste((205, 30, 35), (30, 30, 98, 140))
    blue = Image.new("RGB", red.size, (240, 240, 236))
    blue.paste((40, 100, 205), (30, 30, 98, 140))
    jpeg = io.BytesIO()
    red.resize((256, 320)).save(jpeg, "JPEG", quality=80)
    again = Image.open(io.BytesIO(jpeg.getvalue()))
    assert same_picture(fingerprint(red), fingerprint(again))
    assert not same_picture(fingerprint(red), fingerprint(blue))
    shifted = Image.new("RGB", red.size, (240, 240, 236))
    shifted.paste((205, 30, 35), (46, 30, 114, 140))  # the same garment 16 px to the right
    assert not same_picture(fingerprint(red), fingerprint(shifted))


def _portrait() -> Image.Image:
    """A portrait picture whose top quarter is red: turned any other way, the red is elsewhere."""
    pixels = np.full((96, 48, 3), 200, np.uint8)
    pixels[:24] = (220, 30, 30)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("kind", list(variants(_portrait())))
def test_phone_and_editor_encodings_decode_upright_and_as_they_look(kind):
    upright = _portrait()
    decoded = decode_image(variants(upright)[kind])
    assert decoded.mode == "RGB" and decoded.size == upright.size
    expected = np.asarray(upright.convert("L").convert("RGB") if kind in ("16-bit png", "greyscale png") else upright,
                          np.int16)
    assert np.abs(np.asarray(decoded, np.int16) - expected).mean() < 8


def test_transparent_parts_are_white_not_the_colour_they_hide():
    hidden_black = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert (np.asarray(decode_image(encoded(hidden_black))) == 255).all()
