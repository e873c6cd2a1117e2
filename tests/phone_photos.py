"""Images as phones and editors write them, for tests: MPO with EXIF rotation, 16-bit, CMYK, alpha, greyscale."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

ROTATE_90_CW = 6  # EXIF orientation: the stored pixels must turn 90 degrees clockwise to be upright


def sideways(upright: Image.Image, fmt: str = "JPEG") -> bytes:
    """`upright` stored on its side with an EXIF orientation tag, as a phone held upright writes it; MPO carries
    a second (preview) picture after the first, as phone cameras' MPO files do."""
    exif = Image.Exif()
    exif[0x0112] = ROTATE_90_CW
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise: turning it clockwise undoes it
    buffer = io.BytesIO()
    if fmt == "MPO":
        preview = stored.resize((stored.width // 2, stored.height // 2))
        stored.save(buffer, "MPO", save_all=True, append_images=[preview], exif=exif, quality=95)
    else:
        stored.save(buffer, fmt, exif=exif, quality=95)
    return buffer.getvalue()


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def variants(upright: Image.Image) -> dict[str, bytes]:
    """`upright` (RGB) in the encodings people upload: each should decode to about the same RGB picture."""
    grey = upright.convert("L")
    deep = Image.fromarray((np.asarray(grey, np.uint16) * 257).astype(np.uint16))  # 16-bit greyscale
    return {
        "mpo sideways": sideways(upright, "MPO"),
        "jpeg sideways": sideways(upright),
        "cmyk jpeg": encoded(upright.convert("CMYK"), "JPEG"),
        "16-bit png": encoded(deep),
        "greyscale png": encoded(grey),
        "rgba png": encoded(upright.convert("RGBA")),
    }
