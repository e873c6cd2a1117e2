"""The checks every generation model's inputs go through, with messages meant for the sender.

Each pipeline's request (atelier/diffusion/pipelines/<pipeline>.py) is built from these. Every check raises
ValueError; the Triton models turn that into an INVALID_ARG error for that request only. Parameters left out
take the exported model's defaults (export.json "defaults").
"""

from __future__ import annotations

import secrets
from typing import Any

from PIL import Image

from atelier.images import decode_image, fit_within
from atelier.text_input import request_text

MAX_STEPS = 100
MAX_GUIDANCE = 30.0
MIN_SIDE = 64
MAX_SEED = 2**63 - 1


def text(value: Any, name: str, tokenizer, required: bool = True) -> str | None:
    """A prompt that fits the tokenizer's context (CLIP: 77 tokens with start and end)."""
    value = request_text(value, name)
    if not value:
        if required:
            raise ValueError(f"{name} is empty")
        return None
    tokens = len(tokenizer(value).input_ids)
    if tokens > tokenizer.model_max_length:
        raise ValueError(f"{name} is {tokens - 2} tokens long; at most {tokenizer.model_max_length - 2} fit "
                         "(shorten it)")
    return value


def number(value: Any, name: str, default: float, low: float, high: float, integer: bool = False,
           low_open: bool = False) -> float:
    value = default if value is None else value
    value = int(value) if integer else float(value)
    if value != value or value < low or value > high or (low_open and value == low):  # NaN fails too
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low:g}, {high:g}], not {value:g}")
    return value


def seed(value: Any) -> int:
    if value is None:
        return secrets.randbelow(2**31)
    value = int(value)
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**63 - 1], not {value}")
    return value


def side(value: Any, name: str, default: int, max_side: int) -> int:
    value = int(default if value is None else value)
    if value % 8 or not MIN_SIDE <= value <= max_side:
        raise ValueError(f"{name} must be a multiple of 8 in [{MIN_SIDE}, {max_side}], not {value}")
    return value


def steps(values: dict[str, Any], defaults: dict) -> int:
    return int(number(values.get("steps"), "steps", defaults["steps"], 1, MAX_STEPS, integer=True))


def guidance_scale(values: dict[str, Any], defaults: dict) -> float:
    return number(values.get("guidance_scale"), "guidance_scale", defaults["guidance_scale"], 0, MAX_GUIDANCE)


def input_image(raw: Any, max_side: int, what: str = "image") -> tuple[Image.Image, tuple[int, int]]:
    """The decoded image and the size it is processed at: within max_side, sides multiples of 8."""
    image = decode_image(raw if isinstance(raw, bytes) else b"", what)
    if min(image.size) < MIN_SIDE:
        raise ValueError(f"{what} is {image.width}x{image.height}; each side must be at least {MIN_SIDE} pixels")
    return image, fit_within(image.width, image.height, max_side)


def check_work(rows: list, limit: float) -> None:
    """ValueError when a request's rows together ask for more denoising than `limit` megapixel-steps (steps x
    pixels processed, summed over rows): the model's per-request budget, set in its config.pbtxt."""
    work = sum(row.megapixel_steps for row in rows)
    if work > limit:
        raise ValueError(f"this request asks for {work:.1f} megapixel-steps (rows x steps x processed pixels); this "
                         f"server takes at most {limit:g} in one request: ask for fewer rows or steps, or a smaller "
                         "size")


# try-on's vocabulary, which the front ends offer
GARMENT_TYPES = ("upper", "lower", "overall")
NO_MASK = "no mask was given and no human-parsing model is configured to derive one"


def garment_type(value: Any) -> str:
    value = request_text(value, "garment_type").lower() or "upper"
    if value not in GARMENT_TYPES:
        shown = value if len(value) <= 40 else value[:40] + "..."  # a long echo would outgrow gRPC's status
        raise ValueError(f"garment_type must be one of {', '.join(GARMENT_TYPES)}, not {shown!r}")
    return value
