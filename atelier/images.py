"""Image helpers shared by the Triton Python models, ingest, the CLI and the dashboard.

`decode_image` is the one gate every uploaded or fetched image passes: it refuses empty, huge,
truncated and non-image bytes with a message meant for the person who sent them, and gives what a person
sees: a phone photo upright (EXIF orientation applied), transparency on white, 16-bit and CMYK as RGB.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from scipy import ndimage

MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000
# Pixels one clip_image request may carry. A red-team run's 64 rows of 36-megapixel PNGs held the model 43 s
# (about 18 ms a megapixel on 2 cores) while other searches waited; at this limit a request stays near a second.
MAX_REQUEST_PIXELS = 64_000_000
FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP"}  # MPO: the multi-picture JPEG many phones write


def decode_image(raw: bytes, what: str = "image") -> Image.Image:
    """Decode PNG/JPEG/WebP (or GIF/BMP) bytes to upright RGB; ValueError with a clear message otherwise."""
    if not raw:
        raise ValueError(f"{what} is empty")
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{what} is {len(raw) / 2**20:.1f} MiB; at most {MAX_BYTES // 2**20} MiB is accepted")
    try:
        image = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError as error:
        raise ValueError(f"{what} is too large: {error}") from error
    except UnidentifiedImageError as error:
        raise ValueError(f"{what} could not be decoded: not a PNG, JPEG or WebP image") from error
    except (OSError, SyntaxError) as error:  # a known format's header, broken data after it
        raise ValueError(f"{what} data is truncated or corrupt ({error})") from error
    if image.format not in FORMATS:
        raise ValueError(f"{what} format {image.format} is not accepted; send PNG, JPEG or WebP")
    if image.width * image.height > MAX_PIXELS:
        raise ValueError(f"{what} is {image.width}x{image.height}; at most {MAX_PIXELS // 10**6} megapixels")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{what} data is truncated or corrupt ({error})") from error
    return _as_rgb(ImageOps.exif_transpose(image))


def _as_rgb(image: Image.Image) -> Image.Image:
    """RGB as the picture looks: 16- and 32-bit greyscale scaled to 8 bits (not clipped to white), transparent
    parts on white (not on whatever colour they hide)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        scale = 1 / 256 if image.mode.startswith("I;16") or np.asarray(image).max() > 255 else 1
        image = Image.fromarray(np.clip(np.asarray(image, np.float64) * scale, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert("RGB")


def pixel_count(raw: bytes) -> int:
    """Width x height from the header alone (0 where it cannot be read: decode_image says why)."""
    try:
        with Image.open(io.BytesIO(raw)) as image:
            return image.width * image.height
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 0


def check_request_pixels(images: list[bytes], limit: int = MAX_REQUEST_PIXELS) -> None:
    """ValueError when `images` together hold more than `limit` pixels (read from their headers)."""
    total = sum(pixel_count(raw) for raw in images)
    if total > limit:
        raise ValueError(f"the request's images hold {total / 1e6:.0f} megapixels; at most {limit // 10**6} are "
                         "accepted in one request: send fewer or smaller images")


PICTURE_TOLERANCE = 4  # levels (0-255) by which one picture's fingerprints may differ


def fingerprint(image: Image.Image) -> np.ndarray:
    """The picture's perceptual fingerprint: its mean colours on an 8x8 grid (192 uint8 values).

    Calibrated on the demo catalog (2,000 products, some drawn alike): a JPEG re-encoding at another size
    moves no value by more than 3 levels, while the two most alike distinct products differ by 6 somewhere.
    """
    return np.asarray(image.convert("RGB").resize((8, 8), Image.Resampling.BOX), dtype=np.uint8).reshape(-1)


def same_picture(a: np.ndarray, b: np.ndarray, tolerance: int = PICTURE_TOLERANCE) -> bool:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) <= tolerance


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def fit_within(width: int, height: int, max_side: int, multiple: int = 8) -> tuple[int, int]:
    """The largest size with the same aspect ratio, both sides at most `max_side`, rounded down to `multiple`."""
    scale = min(1.0, max_side / max(width, height))
    return (max(multiple, int(width * scale) // multiple * multiple),
            max(multiple, int(height * scale) // multiple * multiple))


def binary_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """White (>= 128) = repaint, as an L image of `size`.

    A mask of another size is scaled (nearest neighbour) when its aspect ratio matches the image's
    within 1%, and refused otherwise: stretching it would repaint the wrong part of the product.
    """
    if mask.size != size:
        ratio, expected = mask.width / mask.height, size[0] / size[1]
        if abs(ratio / expected - 1) > 0.01:
            raise ValueError(f"mask is {mask.width}x{mask.height} but the image is {size[0]}x{size[1]}; "
                             "the mask must have the image's aspect ratio")
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return mask.convert("L").point(lambda value: 255 if value >= 128 else 0)


def feather_radius(size: tuple[int, int]) -> int:
    return max(2, min(size) // 128)


def paste_back(original: Image.Image, generated: Image.Image, mask: Image.Image,
               inside_only: bool = False) -> Image.Image:
    """Keep every pixel of `original` outside the mask, blending into `generated` over a soft edge.

    The blend weight is 1 on the mask, falls to 0 over `feather_radius` pixels beyond it, and is
    exactly 0 further than 2 * feather_radius from the mask, where the original pixels are returned
    untouched. With `inside_only` the soft edge lies inside the mask instead (the weight is 1 from
    2 * feather_radius inside it), so every pixel outside the mask is the original's: try-on, whose
    masks are generous, keeps the person photo exactly. `generated` is scaled to the original's size first.
    """
    radius = feather_radius(original.size)
    if generated.size != original.size:
        generated = generated.resize(original.size, Image.Resampling.LANCZOS)
    edge = eroded(mask, radius) if inside_only else dilated(mask, radius)
    alpha = edge.filter(ImageFilter.BoxBlur(radius))
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), alpha)


# Square max and min filters, separable (scipy): Pillow's MaxFilter costs area x window^2, and at a 4096-pixel
# photo's feather radius took 136 s where this takes 0.3 s, with the same pixels.
def dilated(mask: Image.Image, radius: int) -> Image.Image:
    """The mask grown by `radius` pixels in every direction (the region paste_back may change)."""
    return Image.fromarray(ndimage.maximum_filter(np.asarray(mask), size=2 * radius + 1, mode="nearest"))


def eroded(mask: Image.Image, radius: int) -> Image.Image:
    """The mask shrunk by `radius` pixels from every edge."""
    return Image.fromarray(ndimage.minimum_filter(np.asarray(mask), size=2 * radius + 1, mode="nearest"))


def mask_from_strokes(strokes: np.ndarray, size: tuple[int, int], alpha_threshold: int = 16) -> Image.Image:
    """A canvas drawing layer (RGBA, at the size the canvas shows) as a binary mask at the image's `size`.

    Pixels whose alpha exceeds `alpha_threshold` are painted (anti-aliased stroke edges below it
    are not). ValueError when nothing is painted: an empty mask would repaint nothing.
    """
    if strokes.ndim != 3 or strokes.shape[2] != 4:
        raise ValueError(f"expected an RGBA drawing, got an array of shape {strokes.shape}")
    painted = strokes[..., 3] > alpha_threshold
    if not painted.any():
        raise ValueError("nothing is painted: paint over the part to change")
    mask = Image.fromarray(painted.astype(np.uint8) * 255)
    return mask.resize(size, Image.Resampling.NEAREST)
