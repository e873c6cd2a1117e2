"""What the tiny CLIP learns to read: ways to describe a catalog product, each naming some of its attributes.

People type "trousers", "navy trousers", "striped dress", "tops", "in black" or "a long-sleeved top" as often
as "a navy striped shirt". Each description says which attributes it names, so the contrastive loss
(`clip_metric.contrastive_loss`) counts every product that has those as a positive: "trousers" is right for
any trousers, "in black" for anything black. Sketch views show the shape only, so they are paired with the
families that name shape attributes alone (`SKETCH_FAMILIES`).
"""

from __future__ import annotations

from typing import Any

from atelier.labels import LABEL_SET
from atelier.vocabulary import NECKLINES, SLEEVES

ATTRIBUTES = ("garment", "color", "pattern", "category", "sleeve", "neckline")  # the garment first: it ranks first
SHAPE_ATTRIBUTES = ("garment", "category", "sleeve", "neckline")  # what a colourless sketch shows
NONE = "none"  # the sleeve or neckline of a garment that has none (trousers)
PATTERN_NOUNS = {"striped": "stripes", "checked": "checks", "polka dot": "polka dots", "floral": "a floral print"}
CATEGORY_WORDS = {"tops": ("tops", "a top"), "bottoms": ("bottoms", "something for the legs"),
                  "dresses": ("dresses", "a dress"), "outerwear": ("outerwear", "something to wear over")}

# Family -> (attributes it names, share of the photo views that draw a text of it).
FAMILIES: dict[str, tuple[tuple[str, ...], float]] = {
    "full": (("garment", "color", "pattern"), 0.38),
    "color+garment": (("garment", "color"), 0.14),
    "pattern+garment": (("garment", "pattern"), 0.10),
    "garment": (("garment",), 0.10),
    "color+pattern": (("color", "pattern"), 0.05),
    "color": (("color",), 0.06),
    "pattern": (("pattern",), 0.05),
    "category": (("category",), 0.04),
    "sleeve": (("sleeve",), 0.04),
    "neckline": (("neckline",), 0.04),
}
SKETCH_FAMILIES = tuple(name for name, (named, _) in FAMILIES.items() if set(named) <= set(SHAPE_ATTRIBUTES))


def with_article(garment: str) -> str:
    """ "a shirt", but "trousers": the demo's garments that are plural take no article."""
    return garment if garment in ("trousers", "shorts") else f"a {garment}"


def attribute_values(row: Any) -> tuple[str, ...]:
    """The product's value of each of ATTRIBUTES (a CSV row with garment, color, pattern and category)."""
    return (row.garment, row.color, row.pattern, row.category, SLEEVES.get(row.garment, NONE),
            NECKLINES.get(row.garment, NONE))


def descriptions(row: Any) -> dict[str, list[str]]:
    """Per family, the ways to say it of this product (families that do not apply are left out)."""
    garment, colour, pattern, category, sleeve, neckline = attribute_values(row)
    one = with_article(garment)
    look = colour if pattern == "solid" else f"{colour} {pattern}"
    texture = "plain" if pattern == "solid" else pattern
    with_pattern = "in a plain colour" if pattern == "solid" else f"with {PATTERN_NOUNS.get(pattern, pattern)}"
    families = {
        "full": [f"{look} {garment}", f"{one} in {colour} {with_pattern}", f"a photo of a {look} {garment}",
                 f"{garment}, {colour}, {texture}", row.title],
        "color+garment": [f"{colour} {garment}", f"{one} in {colour}"],
        "pattern+garment": [f"{texture} {garment}", f"{one} {with_pattern}"],
        "garment": [garment, one, f"as {one}"],
        "color+pattern": [f"{look}", f"something {look}"],
        "color": [colour, f"in {colour}", f"something {colour}"],
        "pattern": [texture, with_pattern],
        "category": list(CATEGORY_WORDS[category]),
    }
    if pattern == "solid":
        families["full"].append(f"plain {colour} {garment}")
    if sleeve != NONE:
        families["sleeve"] = [f"{words} clothing" for words in LABEL_SET["sleeve"][sleeve]]
        families["full"].append(f"a {LABEL_SET['sleeve'][sleeve][0]} {look} {garment}")
    if neckline != NONE:
        families["neckline"] = [f"a {words} top" for words in LABEL_SET["neckline"][neckline]]
    return {family: list(dict.fromkeys(texts)) for family, texts in families.items()}
