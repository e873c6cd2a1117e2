"""The SDXL prompt and negative prompt for the conversation so far.

Trend terms enrich what the merchandiser left open (a colour, a pattern). Until trend and
order-history data are collected (issue 8), they come from the catalog: its most common colours
and patterns.
"""

from __future__ import annotations

import re
from collections import Counter

from atelier.stylist.interpreter import Slots

BASE_NEGATIVE = "blurry, low quality, deformed body, extra limbs, watermark, text, logo"
TREND_PART = re.compile(r", trending [^,]+ accents")  # as build_prompt writes the trend terms
STYLE_WORDS = {"formal": "elegant formal", "casual": "relaxed casual", "sporty": "sporty", "edgy": "edgy",
               "bold": "bold statement"}


def catalog_trends(rows: list[dict], top: int = 2) -> list[str]:
    """The catalog's most common colours, then its most common non-solid pattern."""
    colours = [name for name, _ in Counter(r["color"] for r in rows if r.get("color")).most_common(top)]
    patterns = Counter(r["pattern"] for r in rows if r.get("pattern") and r["pattern"] != "solid").most_common(1)
    return colours + [name for name, _ in patterns]


def article(phrase: str) -> str:
    """"an" before a vowel sound as spelled ("an elegant", "an outfit"), "a" otherwise."""
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def trend_terms(slots: Slots, trends: list[str]) -> list[str]:
    """The trend terms the prompt adds: up to two the merchandiser left open (no colour and pattern named, none
    avoided)."""
    if slots.color and slots.pattern:
        return []
    return [t for t in trends if t not in (slots.color, slots.pattern) and t not in slots.avoid][:2]


def build_prompt(slots: Slots, trends: list[str], preferences: str = "") -> tuple[str, str]:
    """The SDXL prompt and negative prompt; `preferences` (a shopper's, atelier/profiles.py) fill what is open."""
    garments = " and ".join(slots.garments) if slots.garments else "outfit"
    described = " ".join(w for w in (slots.color, slots.pattern, slots.fabric, garments) if w)
    lead = f"{STYLE_WORDS[slots.style]} {described}" if slots.style else described
    parts = [f"{article(lead)} {lead}"]
    if slots.occasion:
        parts[0] += f" for {article(slots.occasion)} {slots.occasion}"
    if slots.season:
        parts.append(f"{slots.season} collection")
    if preferences and not (slots.color and slots.pattern):
        parts.append(preferences)
    if terms := trend_terms(slots, trends):
        parts.append(f"trending {' and '.join(terms)} accents")  # TREND_PART finds it again
    parts.append("full-length fashion photograph, studio lighting, high detail")
    return ", ".join(parts), negative_prompt(slots.avoid)


def negative_prompt(avoid: list[str]) -> str:
    """The fixed quality list and what the merchandiser asked to avoid."""
    return ", ".join([BASE_NEGATIVE, *avoid])


def without_trend_terms(prompt: str) -> str:
    """A prompt that build_prompt wrote, less the trend terms it added."""
    return TREND_PART.sub("", prompt)
