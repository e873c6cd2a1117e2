"""What a chat turn asks for: the offline, deterministic interpreter.

A turn is one of five intents:
  new_outfit  generate a new image ("a linen outfit for a beach wedding", "something more formal")
  edit        change the current image ("make the shirt sage green")
  refine      change which products are shown, without generating ("only show dresses under 3000")
  navigate    back / undo / start over / go to an earlier look ("go back to the first one")
  question    anything asked that needs no new image ("what fabrics work for summer?")
and carries the slots it names: garments, colour, pattern, fabric, occasion, season, category,
price bounds, style (formal / casual) and things to avoid ("without stripes").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

INTENTS = ("new_outfit", "edit", "refine", "navigate", "question")
NAVIGATIONS = ("back", "undo", "start_over", "goto")

GARMENTS = {  # word -> (garment, catalog category)
    "t-shirt": ("t-shirt", "tops"), "tee": ("t-shirt", "tops"), "t shirt": ("t-shirt", "tops"),
    "shirt": ("shirt", "tops"), "blouse": ("blouse", "tops"), "top": ("top", "tops"), "hoodie": ("hoodie", "tops"),
    "sweater": ("sweater", "tops"), "jumper": ("sweater", "tops"), "cardigan": ("cardigan", "tops"),
    "dress": ("dress", "dresses"), "gown": ("dress", "dresses"), "skirt": ("skirt", "bottoms"),
    "trousers": ("trousers", "bottoms"), "pants": ("trousers", "bottoms"), "chinos": ("trousers", "bottoms"),
    "jeans": ("jeans", "bottoms"), "shorts": ("shorts", "bottoms"), "jacket": ("jacket", "outerwear"),
    "blazer": ("blazer", "outerwear"), "coat": ("coat", "outerwear"), "trench": ("coat", "outerwear"),
    "suit": ("suit", "outerwear"), "shoes": ("shoes", "shoes"), "sneakers": ("sneakers", "shoes"),
    "boots": ("boots", "shoes"), "sandals": ("sandals", "shoes"), "heels": ("heels", "shoes"),
    "loafers": ("loafers", "shoes"), "bag": ("bag", "accessories"), "scarf": ("scarf", "accessories"),
    "hat": ("hat", "accessories"), "belt": ("belt", "accessories"),
}
PLURALS = {"shirts": "shirt", "blouses": "blouse", "tops": "top", "hoodies": "hoodie", "sweaters": "sweater",
           "cardigans": "cardigan", "dresses": "dress", "skirts": "skirt", "jackets": "jacket", "coats": "coat",
           "blazers": "blazer", "suits": "suit", "t-shirts": "t-shirt", "tees": "tee", "bags": "bag",
           "scarves": "scarf", "hats": "hat", "belts": "belt", "gowns": "gown"}
CATEGORIES = {"tops": "tops", "bottoms": "bottoms", "dresses": "dresses", "outerwear": "outerwear",
              "shoes": "shoes", "footwear": "shoes", "accessories": "accessories"}
COLOURS = {  # phrase -> catalog colour; longer phrases are matched first
    "sage green": "sage", "navy blue": "navy", "light blue": "blue", "sky blue": "blue", "dark blue": "navy",
    "black": "black", "white": "white", "ivory": "white", "cream": "beige", "grey": "grey", "gray": "grey",
    "charcoal": "grey", "navy": "navy", "blue": "blue", "red": "red", "burgundy": "red", "green": "green",
    "olive": "green", "sage": "sage", "yellow": "yellow", "mustard": "yellow", "pink": "pink", "blush": "pink",
    "beige": "beige", "camel": "beige", "tan": "beige", "khaki": "beige", "brown": "brown",
    "chocolate": "brown", "purple": "purple", "lavender": "purple", "orange": "orange", "teal": "teal",
}
PATTERNS = {"polka dots": "polka dot", "polka dot": "polka dot", "polka-dot": "polka dot", "dotted": "polka dot",
            "stripes": "striped", "striped": "striped", "stripy": "striped", "pinstripe": "striped",
            "checked": "checked", "checks": "checked", "check": "checked", "plaid": "checked",
            "gingham": "checked", "tartan": "checked", "floral": "floral", "florals": "floral", "flowers": "floral",
            "flowery": "floral", "solid": "solid", "plain": "solid"}
FABRICS = ("linen", "cotton", "silk", "wool", "denim", "leather", "cashmere", "satin", "velvet", "chiffon",
           "tweed", "jersey", "knit", "corduroy", "suede", "lace", "organza")
OCCASIONS = {phrase: phrase for phrase in (
    "beach wedding", "wedding", "cocktail party", "party", "office", "business meeting", "interview", "date night",
    "gala", "brunch", "vacation", "holiday", "festival", "funeral", "graduation", "dinner", "prom", "beach",
    "weekend", "night out", "garden party")} | {"for work": "work", "to work": "work", "at work": "work",
                                                "on a date": "date", "for a date": "date"}
SEASONS = {"spring": "spring", "summer": "summer", "summery": "summer", "autumn": "autumn", "fall": "autumn",
           "winter": "winter", "wintry": "winter"}
STYLES = {"more formal": "formal", "dressier": "formal", "more elegant": "formal", "smarter": "formal",
          "formal": "formal", "elegant": "formal", "more casual": "casual", "casual": "casual",
          "relaxed": "casual", "sportier": "sporty", "sporty": "sporty", "edgier": "edgy", "bolder": "bold"}

ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
            "fifth": 5, "5th": 5, "last": -1, "original": 1}
NUMBER = r"(?:rs\.?|inr|₹|\$|€|£|usd|eur)?\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b)?"
MAX_PRICE = re.compile(rf"\b(?:under|below|less than|cheaper than|up to|upto|max(?:imum)?|at most|within|no more "
                       rf"than|budget(?: of| is)?)\s*{NUMBER}")
MIN_PRICE = re.compile(rf"\b(?:over|above|more than|at least|min(?:imum)?|starting at|from)\s*{NUMBER}")
BETWEEN = re.compile(rf"\bbetween\s*{NUMBER}\s*(?:and|-|to)\s*{NUMBER}")
AVOID = re.compile(r"\b(?:without|no|not|avoid|never)\s+(?:any\s+)?([a-z\- ]+?)(?=[,.;!?]|\band\b|$)")
EDIT_VERBS = re.compile(r"^(?:please\s+|can you\s+|could you\s+|now\s+|ok\s+|okay\s+|and\s+)*"
                        r"(?:make|change|turn|swap|replace|add|remove|put|give (?:it|the)|recolou?r|shorten|lengthen|"
                        r"let the|switch)\b")
QUESTION_START = re.compile(r"^(?:what|which|how|why|when|where|who|is|are|does|do|can you tell|tell me|"
                            r"should|would)\b")
REFINE_MARKERS = re.compile(r"\b(?:only|just show|just the|filters?|show (?:me )?all|cheaper|cheapest|products|items|"
                            r"in stock|show (?:me )?(?:the )?(?:products|items|only))\b")
CLEAR_FILTERS = re.compile(r"\b(?:clear|remove|drop|reset|no more)\s+(?:the\s+|all\s+)?filters?\b|\bshow (?:me )?all\b")
NEW_MARKERS = re.compile(r"\b(?:outfit|look|something|another|new one|different|generate|design|create|"
                         r"dress me|style me|ideas?|surprise me)\b")


@dataclass
class Slots:
    garments: list[str] = field(default_factory=list)
    color: str | None = None
    pattern: str | None = None
    fabric: str | None = None
    occasion: str | None = None
    season: str | None = None
    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    style: str | None = None
    avoid: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value not in (None, [])}


@dataclass
class Turn:
    text: str
    intent: str
    slots: Slots = field(default_factory=Slots)
    navigation: str | None = None  # back, undo, start_over, goto
    target: int | None = None  # goto: 1-based look number, -1 the last
    source: str = "offline"  # or "llm"
    answer: str | None = None  # the LLM's answer to a question


def _find(text: str, phrases) -> list[str]:
    """Phrases found in `text` as whole words, in the order they appear; longer phrases win overlaps."""
    found, taken = {}, text
    for phrase in sorted(phrases, key=len, reverse=True):
        pattern = rf"(?<![\w-]){re.escape(phrase)}(?![\w-])"
        if match := re.search(pattern, taken):
            found[phrase] = match.start()
            taken = re.sub(pattern, lambda m: " " * len(m.group()), taken)
    return sorted(found, key=found.get)


def _amount(number: str, thousands: str | None) -> float:
    return float(number.replace(",", "")) * (1000 if thousands else 1)


def extract_slots(text: str) -> Slots:
    text = text.lower()
    slots = Slots()
    avoid_spans = [match.group(1).strip() for match in AVOID.finditer(text)]
    avoided = " ".join(avoid_spans)
    kept = AVOID.sub(" ", text)
    categories = _find(kept, CATEGORIES)
    kept = re.sub(r"[a-z][a-z\-]*", lambda word: PLURALS.get(word.group(), word.group()), kept)
    garment_words = _find(kept, GARMENTS)
    slots.garments = list(dict.fromkeys(GARMENTS[g][0] for g in garment_words))
    garment_categories = {GARMENTS[g][1] for g in garment_words}
    if categories:
        slots.category = CATEGORIES[categories[0]]
    elif len(garment_categories) == 1:
        slots.category = garment_categories.pop()
    colours = _find(kept, COLOURS)
    slots.color = COLOURS[colours[0]] if colours else None
    patterns = _find(kept, PATTERNS)
    slots.pattern = PATTERNS[patterns[0]] if patterns else None
    fabrics = _find(kept, FABRICS)
    slots.fabric = fabrics[0] if fabrics else None
    occasions = _find(kept, OCCASIONS)
    slots.occasion = OCCASIONS[occasions[0]] if occasions else None
    seasons = _find(kept, SEASONS)
    slots.season = SEASONS[seasons[0]] if seasons else None
    styles = _find(kept, STYLES)
    slots.style = STYLES[styles[0]] if styles else None
    if match := BETWEEN.search(text):
        slots.min_price, slots.max_price = _amount(*match.group(1, 2)), _amount(*match.group(3, 4))
    else:
        if match := MAX_PRICE.search(text):
            slots.max_price = _amount(*match.group(1, 2))
        if match := MIN_PRICE.search(text):
            slots.min_price = _amount(*match.group(1, 2))
    avoid = [PATTERNS.get(p, p) for p in _find(avoided, PATTERNS)] + _find(avoided, FABRICS)
    avoid += [COLOURS[c] for c in _find(avoided, COLOURS)]
    slots.avoid = list(dict.fromkeys(avoid or [span for span in avoid_spans if span]))
    return slots


def _navigation(text: str) -> tuple[str, int | None] | None:
    if re.search(r"\b(?:start over|start again|start afresh|from scratch|reset|clear (?:it|everything|all)|"
                 r"new conversation|begin again)\b", text):
        return "start_over", None
    if re.fullmatch(r"(?:please\s+)?(?:undo|undo (?:that|it|the last (?:change|edit|one))|revert(?: that| it)?)"
                    r"[.! ]*", text):
        return "undo", None
    ordinal = re.search(r"\b(?:go |take me |get me |bring me )?back to (?:the )?(?:look |version |number )?"
                        r"(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|original|\d+)\b", text) or \
        re.search(r"\b(?:show|use) (?:me )?the (first|1st|second|2nd|third|3rd|original) (?:one|look|version)"
                  r"(?: again)?\b", text)
    if ordinal:
        word = ordinal.group(1)
        return "goto", int(word) if word.isdigit() else ORDINALS[word]
    if re.fullmatch(r"(?:please\s+)?(?:go back|back|previous(?: one)?|the previous one|go to the previous one|"
                    r"show (?:me )?the previous one|step back)[.! ]*", text):
        return "back", None
    return None


def interpret(text: str, has_image: bool) -> Turn:
    """The offline interpreter: keyword and pattern rules, deterministic."""
    clean = " ".join(text.lower().strip().split())
    slots = extract_slots(clean)
    if navigation := _navigation(clean):
        return Turn(text, "navigate", Slots(), *navigation)
    if CLEAR_FILTERS.search(clean):
        return Turn(text, "refine", Slots())
    if has_image and EDIT_VERBS.match(clean):
        return Turn(text, "edit", slots)
    asks_for_image = re.search(r"\b(?:can|could) you (?:make|design|create|generate|show|dress|style)\b", clean)
    if (clean.endswith("?") or QUESTION_START.match(clean)) and not asks_for_image:
        return Turn(text, "question", slots)
    wants_new = bool(NEW_MARKERS.search(clean))
    if not has_image:  # "hello" names nothing to draw: the answer says what can be asked
        return Turn(text, "new_outfit" if slots.as_dict() or wants_new else "question", slots)
    priced = slots.max_price is not None or slots.min_price is not None
    if REFINE_MARKERS.search(clean) and not wants_new or priced and not (wants_new or slots.occasion or slots.fabric):
        return Turn(text, "refine", slots)
    if wants_new or slots.style or slots.garments or slots.occasion or slots.fabric or slots.season:
        return Turn(text, "new_outfit", slots)
    return Turn(text, "edit", slots)  # a bare change ("sage green", "with a belt") applies to the image
