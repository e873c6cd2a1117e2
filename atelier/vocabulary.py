"""The fashion words Atelier reads and labels: garments with their catalog category, colours, patterns.

The demo catalog draws exactly these (atelier/demo_catalog.py), the zero-shot labeller names them
(atelier/labels.py), and the evaluations ask for them (training/).
"""

from __future__ import annotations

GARMENTS: dict[str, str] = {
    "t-shirt": "tops", "shirt": "tops", "hoodie": "tops", "sweater": "tops", "dress": "dresses",
    "skirt": "bottoms", "trousers": "bottoms", "shorts": "bottoms",
    "jacket": "outerwear", "coat": "outerwear",
}
COLOURS: dict[str, tuple[int, int, int]] = {  # name -> its RGB as the demo catalog draws it
    "black": (28, 28, 30), "white": (246, 246, 243), "grey": (128, 128, 130), "navy": (28, 40, 92),
    "blue": (40, 100, 205), "red": (205, 30, 35), "green": (30, 130, 60), "sage": (150, 172, 130),
    "yellow": (242, 200, 40), "pink": (242, 150, 182), "beige": (216, 196, 160), "brown": (112, 70, 40),
}
PATTERNS: tuple[str, ...] = ("solid", "striped", "checked", "polka dot", "floral")
# Each top's sleeve and neckline, as the demo catalog draws them (demo_catalog.SHAPES); bottoms have neither.
SLEEVES: dict[str, str] = {
    "t-shirt": "short", "shirt": "long", "hoodie": "long", "sweater": "long", "dress": "sleeveless",
    "jacket": "long", "coat": "long",
}
NECKLINES: dict[str, str] = {
    "t-shirt": "crew", "shirt": "collar", "hoodie": "hood", "sweater": "crew", "jacket": "v-neck", "coat": "v-neck",
}


def typed(values: dict[str, str]) -> str:
    """A query as a person types it: "navy trousers", "striped dress", "plain coat", "red polka-dot coat"."""
    pattern = values.get("pattern")
    words = [values.get("color"), "plain" if pattern == "solid" else (pattern or "").replace(" ", "-"),
             values.get("garment"), values.get("category")]
    return " ".join(word for word in words if word)
