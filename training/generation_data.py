"""What the tiny generators learn from: products drawn by the demo catalog's drawer, captioned from their attributes.

A *look* is a (garment, colour, pattern) combination of the demo catalog's vocabulary; the drawer
(`atelier.demo_catalog.draw_product`) draws any look in any of its variants (size, offset, shading), and
the same variant of two looks differs only in what differs between the looks, so:
- txt2img learns a drawn look from a caption of it, said in one of several ways a person would;
- edit learns "make it navy" from the same variant drawn in two looks that differ in one attribute;
- inpaint learns to repaint a masked part from a picture whose masked part is another look's.
A few (garment, colour) pairs are never drawn for training (HELD_OUT_PAIRS), so an evaluation can tell
composition ("a yellow coat" from yellow things and coats) from memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from atelier.demo_catalog import Product, draw_product
from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS

SIZE = 128  # the demo catalog's image size, and the tiny generators'
PATTERN_WORDS = {"solid": ("", "plain", "solid"), "striped": ("striped", "stripy", "stripe"),
                 "checked": ("checked", "gingham", "check"), "polka dot": ("polka dot", "polka-dot", "dotted"),
                 "floral": ("floral", "flowery", "flower print")}
TEMPLATES = ("a {colour} {pattern} {garment}", "{colour} {pattern} {garment}", "a {pattern} {garment} in {colour}",
             "{garment}, {colour}, {pattern}")
# Words people and the Stylist add that name no attribute the drawer draws: the generators learn to ignore them.
FILLERS = ("linen", "cotton", "breezy", "elegant", "relaxed casual", "for a beach wedding", "for the office",
           "summer collection", "winter collection", "full-length fashion photograph, studio lighting, high detail",
           "product photo", "on a plain background", "oversized", "slim fit")

# What people put in a negative prompt that names nothing the drawer draws (the Stylist sends some of them with
# every look): txt2img learns them as its unconditional input, so that a negative prompt steers away from what
# it names (a colour, a pattern) and not from the prompt itself.
NEGATIVE_WORDS = ("blurry", "low quality", "worst quality", "deformed", "deformed body", "extra limbs", "bad anatomy",
                  "watermark", "text", "logo", "signature", "jpeg artifacts", "cropped", "out of frame", "ugly",
                  "grainy", "overexposed", "duplicate")


def negative_words(rng: random.Random) -> str:
    """A negative prompt of 2 to 7 of NEGATIVE_WORDS."""
    return ", ".join(rng.sample(NEGATIVE_WORDS, rng.randint(2, 7)))


@dataclass(frozen=True)
class Look:
    garment: str
    color: str
    pattern: str


def _held_out_pairs(seed: int = 0) -> frozenset[tuple[str, str]]:
    """One (garment, colour) pair per garment, no colour twice: each garment and colour is still drawn in training."""
    rng = random.Random(seed)
    colours = list(COLOURS)
    rng.shuffle(colours)
    return frozenset(zip(GARMENTS, colours))


HELD_OUT_PAIRS = _held_out_pairs()


def looks(held_out: bool = False) -> list[Look]:
    """Every look of the demo vocabulary whose (garment, colour) is held out (`held_out`) or is drawn for training."""
    return [Look(g, c, p) for g in GARMENTS for c in COLOURS for p in PATTERNS
            if ((g, c) in HELD_OUT_PAIRS) == held_out]


def caption(look: Look, rng: random.Random | None = None) -> str:
    """How a person might ask for `look`; the plain "a red polka dot dress" without `rng`."""
    if rng is None:
        return " ".join(w for w in ("a", look.color, PATTERN_WORDS[look.pattern][0], look.garment) if w)
    words = {"colour": look.color, "pattern": rng.choice(PATTERN_WORDS[look.pattern]), "garment": look.garment}
    text = rng.choice(TEMPLATES).format(**words)
    text = " ".join(text.replace(", ,", ",").split()).strip(", ")
    if rng.random() < 0.4:
        text = f"{text}, {rng.choice(FILLERS)}" if rng.random() < 0.5 else f"{rng.choice(FILLERS)} {text}"
    return text


def draw(look: Look, variant: int, size: int = SIZE) -> Image.Image:
    """Variant `variant` of `look`: the same variant of two looks shares its shape, place and shading."""
    product = Product(f"variant-{variant}", "", look.garment, GARMENTS[look.garment], look.color, look.pattern,
                      "", 0.0, "")
    return draw_product(product, size)


def instruction(before: Look, after: Look, rng: random.Random) -> str:
    """What a person says to turn `before` into `after` (one attribute apart)."""
    if before.color != after.color:
        return rng.choice(("make it {c}", "turn it {c}", "make the {g} {c}", "change the colour to {c}",
                           "{c} instead")).format(c=after.color, g=before.garment)
    if after.pattern == "solid":
        return rng.choice(("make it plain", "remove the pattern", "make the {g} solid")).format(g=before.garment)
    word = rng.choice(PATTERN_WORDS[after.pattern][:2])
    return rng.choice(("make it {p}", "make the {g} {p}", "give it a {p} pattern", "{p} instead")).format(
        p=word, g=before.garment)


def random_mask(rng: random.Random, size: int = SIZE) -> Image.Image:
    """A mask ("L", white = repaint) as people paint them: a half, a box, or a few thick brush strokes."""
    mask = Image.new("L", (size, size), 0)
    draw_ = ImageDraw.Draw(mask)
    kind = rng.choice(("half", "box", "strokes"))
    if kind == "half":
        side = rng.choice(("left", "right", "top", "bottom"))
        cut = rng.uniform(0.4, 0.6) * size
        box = {"left": (0, 0, cut, size), "right": (cut, 0, size, size), "top": (0, 0, size, cut),
               "bottom": (0, cut, size, size)}[side]
        draw_.rectangle(box, fill=255)
    elif kind == "box":
        w, h = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        draw_.rectangle((x, y, x + w, y + h), fill=255)
    else:
        for _ in range(rng.randint(2, 5)):
            points = [(rng.uniform(0.15, 0.85) * size, rng.uniform(0.1, 0.9) * size) for _ in range(3)]
            draw_.line(points, fill=255, width=round(rng.uniform(0.12, 0.25) * size), joint="curve")
    return mask


def one_apart(look: Look, rng: random.Random, allowed: set[Look]) -> Look:
    """A look in `allowed` that differs from `look` in its colour or its pattern (one of them, at random)."""
    while True:
        if rng.random() < 0.5:
            other = Look(look.garment, rng.choice([c for c in COLOURS if c != look.color]), look.pattern)
        else:
            other = Look(look.garment, look.color, rng.choice([p for p in PATTERNS if p != look.pattern]))
        if other in allowed:
            return other


def to_array(image: Image.Image) -> np.ndarray:
    """(3, H, W) float32 in [-1, 1], as the VAE takes images."""
    return np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0
