"""Inputs of the generation models, validated request by request with messages meant for the sender.

Every check raises ValueError; the Triton models turn that into an INVALID_ARG error for that
request only. Parameters left out take the exported model's defaults (export.json "defaults").
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from atelier.images import binary_mask, decode_image, fit_within
from atelier.text_input import request_text

MAX_STEPS = 100
MAX_GUIDANCE = 30.0
MAX_IMAGE_GUIDANCE = 10.0
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


@dataclass(frozen=True)
class Txt2ImgRequest:
    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance_scale: float
    width: int
    height: int

    @property
    def output_size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def batch_key(self) -> tuple:
        return (self.width, self.height, self.steps, self.guidance_scale)

    @property
    def megapixel_steps(self) -> float:
        return self.steps * self.width * self.height / 1e6


@dataclass(frozen=True)
class EditRequest:
    image: Image.Image
    size: tuple[int, int]
    instruction: str
    seed: int
    steps: int
    guidance_scale: float
    image_guidance_scale: float

    @property
    def output_size(self) -> tuple[int, int]:
        return self.size

    def batch_key(self) -> tuple:
        return (self.size, self.steps, self.guidance_scale, self.image_guidance_scale)

    @property
    def megapixel_steps(self) -> float:
        return self.steps * self.size[0] * self.size[1] / 1e6


@dataclass(frozen=True)
class InpaintRequest:
    image: Image.Image
    mask: Image.Image  # binary, the image's size
    size: tuple[int, int]
    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance_scale: float
    strength: float

    @property
    def output_size(self) -> tuple[int, int]:
        return self.image.size  # pasted back into the original

    @property
    def mask_is_empty(self) -> bool:
        return self.mask.getextrema()[1] == 0

    def batch_key(self) -> tuple:
        return (self.size, self.steps, self.guidance_scale, self.strength)

    @property
    def megapixel_steps(self) -> float:
        return int(self.steps * self.strength) * self.size[0] * self.size[1] / 1e6  # strength skips the first steps


def check_work(rows: list, limit: float) -> None:
    """ValueError when a request's rows together ask for more denoising than `limit` megapixel-steps (steps x
    pixels processed, summed over rows): the model's per-request budget, set in its config.pbtxt."""
    work = sum(row.megapixel_steps for row in rows)
    if work > limit:
        raise ValueError(f"this request asks for {work:.1f} megapixel-steps (rows x steps x processed pixels); this "
                         f"server takes at most {limit:g} in one request: ask for fewer rows or steps, or a smaller "
                         "size")


def txt2img_request(values: dict[str, Any], tokenizer, defaults: dict, max_side: int) -> Txt2ImgRequest:
    return Txt2ImgRequest(
        prompt=text(values.get("prompt"), "prompt", tokenizer),
        negative_prompt=text(values.get("negative_prompt"), "negative_prompt", tokenizer, required=False),
        seed=seed(values.get("seed")),
        steps=steps(values, defaults),
        guidance_scale=guidance_scale(values, defaults),
        width=side(values.get("width"), "width", defaults["width"], max_side),
        height=side(values.get("height"), "height", defaults["height"], max_side),
    )


def edit_request(values: dict[str, Any], tokenizer, defaults: dict, max_side: int) -> EditRequest:
    instruction = text(values.get("instruction"), "instruction", tokenizer)
    image, size = input_image(values.get("image"), max_side)
    return EditRequest(
        image=image, size=size, instruction=instruction, seed=seed(values.get("seed")),
        steps=steps(values, defaults), guidance_scale=guidance_scale(values, defaults),
        image_guidance_scale=number(values.get("image_guidance_scale"), "image_guidance_scale",
                                    defaults["image_guidance_scale"], 0, MAX_IMAGE_GUIDANCE),
    )


def inpaint_request(values: dict[str, Any], tokenizer, defaults: dict, max_side: int) -> InpaintRequest:
    prompt = text(values.get("prompt"), "prompt", tokenizer)
    image, size = input_image(values.get("image"), max_side)
    mask = binary_mask(decode_image(values.get("mask") or b"", "mask"), image.size)
    denoising_steps = steps(values, defaults)
    strength = number(values.get("strength"), "strength", defaults["strength"], 0, 1, low_open=True)
    if int(denoising_steps * strength) < 1:
        raise ValueError(f"steps x strength must be at least 1 denoising step (got {denoising_steps} x {strength:g})")
    return InpaintRequest(
        image=image, mask=mask, size=size, prompt=prompt,
        negative_prompt=text(values.get("negative_prompt"), "negative_prompt", tokenizer, required=False),
        seed=seed(values.get("seed")), steps=denoising_steps, guidance_scale=guidance_scale(values, defaults),
        strength=strength,
    )


GARMENT_TYPES = ("upper", "lower", "overall")
NO_MASK = "no mask was given and no human-parsing model is configured to derive one"


@dataclass(frozen=True)
class TryOnRequest:
    person: Image.Image
    garment: Image.Image
    mask: Image.Image  # binary, the person photo's size; white = where the garment goes
    garment_type: str
    size: tuple[int, int]  # the person photo's processing size
    seed: int
    steps: int
    guidance_scale: float

    @property
    def output_size(self) -> tuple[int, int]:
        return self.person.size  # pasted back into the original photo

    def batch_key(self) -> tuple:
        return (self.size, self.steps, self.guidance_scale, self.garment_type)  # pre-warping depends on the type

    @property
    def megapixel_steps(self) -> float:
        return self.steps * 2 * self.size[0] * self.size[1] / 1e6  # the garment is denoised beside the person


def garment_type(value: Any) -> str:
    value = request_text(value, "garment_type").lower() or "upper"
    if value not in GARMENT_TYPES:
        shown = value if len(value) <= 40 else value[:40] + "..."  # a long echo would outgrow gRPC's status
        raise ValueError(f"garment_type must be one of {', '.join(GARMENT_TYPES)}, not {shown!r}")
    return value


def tryon_request(values: dict[str, Any], defaults: dict, max_side: int,
                  parser: Callable[[Image.Image, str], Image.Image] | None = None) -> TryOnRequest:
    """`parser(person, garment_type) -> mask` derives the mask when none is given, where one is configured."""
    person, size = input_image(values.get("person"), max_side, "person")
    garment, _ = input_image(values.get("garment"), max_side, "garment")
    kind = garment_type(values.get("garment_type"))
    if values.get("mask"):
        mask = binary_mask(decode_image(values["mask"], "mask"), person.size)
    elif parser is not None:
        mask = parser(person, kind)
    else:
        raise ValueError(f"{NO_MASK}: paint the area the garment should cover and send it as `mask` "
                         "(white = replace)")
    if mask.getextrema()[1] == 0:
        raise ValueError("the mask is empty: paint the area the garment should cover (white = replace)")
    return TryOnRequest(person=person, garment=garment, mask=mask, garment_type=kind, size=size,
                        seed=seed(values.get("seed")), steps=steps(values, defaults),
                        guidance_scale=guidance_scale(values, defaults))
