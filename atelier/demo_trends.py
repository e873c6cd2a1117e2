"""A deterministic demo trend export, so the Trends page and its tests need no social network.

Ten weeks of posts in a scraping tool's shape (caption with its #tags, image, likesCount, ISO timestamp), each
showing a garment drawn like the demo catalog's (atelier.demo_catalog). Every post carries #ootd and the
hashtag of its theme; the themes' weekly counts make #sage rise and #neon fall while #gingham, #boho and
#streetwear hold steady. Rising posts also gather more likes as the weeks go by.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from atelier.demo_catalog import Product, draw_product
from atelier.vocabulary import GARMENTS

FIRST_WEEK = datetime(2024, 3, 4, tzinfo=timezone.utc)  # a Monday
EXPORT_NAME = "trend_posts.json"
RISING = "sage"
FALLING = "neon"


@dataclass(frozen=True)
class Theme:
    hashtag: str
    caption: str  # "{colour}" and "{garment}" are filled in
    colours: tuple[str, ...]
    garments: tuple[str, ...]
    patterns: tuple[str, ...]
    weekly: tuple[int, ...]  # posts in each of the ten weeks
    likes: tuple[int, int]  # the range of a post's likes in the first week; it grows by `growth` a week
    growth: float = 1.0


THEMES = (
    Theme(RISING, "Soft {colour} {garment} for spring", ("sage",), ("dress", "shirt", "skirt"), ("solid",),
          (0, 1, 1, 1, 2, 2, 3, 4, 6, 8), (20, 80), growth=1.25),
    Theme(FALLING, "Loud {colour} {garment}, still", ("yellow", "pink"), ("t-shirt", "shorts", "hoodie"), ("solid",),
          (8, 7, 6, 5, 4, 3, 2, 2, 1, 1), (60, 200), growth=0.85),
    Theme("gingham", "Picnic {garment} in {colour} check", ("blue", "red"), ("shirt", "dress"), ("checked",),
          (2,) * 10, (10, 60)),
    Theme("boho", "Flowers on a {colour} {garment}", ("beige", "brown"), ("dress", "skirt"), ("floral",),
          (2, 3) * 5, (10, 60)),
    Theme("streetwear", "{colour} {garment}, city days", ("black", "grey"), ("hoodie", "jacket"), ("striped",),
          (1,) * 10, (10, 60)),
)


def write_trend_export(folder: Path, seed: int = 0, size: int = 128) -> Path:
    """Draw the posts' images into `folder`/images and write `folder`/trend_posts.json; returns its path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    records = []
    for theme in THEMES:
        for week, count in enumerate(theme.weekly):
            for _ in range(count):
                post_id = f"demo-post-{len(records) + 1:04d}"
                colour, garment = rng.choice(theme.colours), rng.choice(theme.garments)
                product = Product(post_id, "", garment, GARMENTS[garment], colour, rng.choice(theme.patterns), "",
                                  0.0, f"images/{post_id}.png")
                draw_product(product, size, seed).save(folder / product.image)
                low, high = (round(bound * theme.growth**week) for bound in theme.likes)
                moment = FIRST_WEEK + timedelta(weeks=week, days=rng.randrange(7), hours=rng.randrange(8, 22),
                                                minutes=rng.randrange(60))
                caption = theme.caption.format(colour=colour, garment=garment)
                records.append({"id": post_id, "caption": f"{caption[0].upper()}{caption[1:]} #{theme.hashtag} #ootd",
                                "image": product.image, "likesCount": rng.randint(low, high),
                                "timestamp": moment.isoformat().replace("+00:00", "Z"), "source": "demo"})
    path = folder / EXPORT_NAME
    path.write_text(json.dumps(records, indent=1))
    return path
