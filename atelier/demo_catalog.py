"""A deterministic demo catalog of drawn fashion products, so the demo and the tests need no internet.

`atelier demo-catalog` calls :func:`write_catalog`. Each image shows a garment silhouette in a named colour
and pattern, so that text search ("red striped shirt") and image search have something to find.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter
from tqdm import tqdm

from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS

BRANDS: tuple[str, ...] = (
    "Linden", "Saltmarsh", "Northfold", "Quillon", "Aldermoor", "Vell & Co", "Brumeworth", "Tessaly",
)
_BASE_PRICE = {"t-shirt": 19, "shirt": 39, "hoodie": 49, "sweater": 59, "dress": 69,
               "skirt": 39, "trousers": 59, "shorts": 29, "jacket": 99, "coat": 149}
_COLUMNS = ("id", "title", "category", "garment", "color", "pattern", "brand", "price", "image")
_SUPERSAMPLE = 2  # draw at twice the size and downscale, for smooth edges


@dataclass(frozen=True)
class Product:
    """One catalog row; `image` is the PNG's path relative to the catalog folder."""

    id: str
    title: str
    garment: str
    category: str
    color: str
    pattern: str
    brand: str
    price: float
    image: str


def generate_products(count: int, seed: int = 0) -> list[Product]:
    """`count` products drawn from `random.Random(seed)`.

    Every cycle of garments x colours x patterns products holds each combination once, in freshly shuffled
    name orders, and the walk keeps the three balanced: the first 50 products already show every one.
    """
    rng = random.Random(seed)
    garments, colours, patterns = list(GARMENTS), list(COLOURS), list(PATTERNS)
    block = len(garments) * len(patterns)
    products = []
    for n in range(count):
        q, r = divmod(n % (block * len(colours)), block)
        if q == r == 0:
            for names in (garments, colours, patterns):
                rng.shuffle(names)
        garment, pattern = garments[r % len(garments)], patterns[r // len(garments)]
        colour = colours[(r + q) % len(colours)]
        brand = rng.choice(BRANDS)
        price = round(int(_BASE_PRICE[garment] * rng.uniform(0.8, 1.4)) + 0.99, 2)
        words = [brand, colour, *([] if pattern == "solid" else [pattern]), garment]
        pid = f"demo-{n + 1:06d}"
        products.append(Product(pid, " ".join(words), garment, GARMENTS[garment], colour, pattern, brand,
                                price, f"images/{pid}.png"))
    return products


_Points = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class _Shape:
    """A garment in unit coordinates: polygons and ovals make its mask, the rest is drawn on top."""

    polygons: Sequence[_Points]
    ovals: Sequence[tuple[float, float, float, float]] = ()
    lines: Sequence[_Points] = ()  # seams, in the detail shade
    buttons: _Points = ()
    holes: Sequence[tuple[float, float, float, float]] = ()  # ovals in the detail shade (hood opening)
    insets: Sequence[_Points] = ()  # polygons in the pattern ink (the shirt under an open jacket)


def _mirror(points: _Points) -> list[tuple[float, float]]:
    return [(1 - x, y) for x, y in points]


def _long_sleeved(neck: _Points, hem: float, half_width: float) -> list[tuple[float, float]]:
    right = [(0.73, 0.17), (0.84, 0.36), (0.92, 0.80), (0.81, 0.82), (0.71, 0.42), (0.5 + half_width, hem)]
    return [*neck, *right, *reversed(_mirror(right))]


_CUFFS = ([(0.911, 0.75), (0.798, 0.77)], _mirror([(0.911, 0.75), (0.798, 0.77)]))
SHAPES = {
    "t-shirt": _Shape(
        [[(0.40, 0.14), (0.5, 0.21), (0.60, 0.14), (0.72, 0.18), (0.90, 0.36), (0.80, 0.46), (0.70, 0.38),
          (0.70, 0.88), (0.30, 0.88), (0.30, 0.38), (0.20, 0.46), (0.10, 0.36), (0.28, 0.18)]],
        lines=[[(0.41, 0.165), (0.5, 0.235), (0.59, 0.165)], [(0.30, 0.84), (0.70, 0.84)]]),
    "shirt": _Shape(
        [_long_sleeved([(0.40, 0.13), (0.5, 0.21), (0.60, 0.13)], 0.88, 0.20),
         [(0.40, 0.14), (0.42, 0.09), (0.58, 0.09), (0.60, 0.14)]],
        lines=[[(0.41, 0.11), (0.5, 0.21), (0.42, 0.27), (0.40, 0.14)],
               _mirror([(0.41, 0.11), (0.5, 0.21), (0.42, 0.27), (0.40, 0.14)]), [(0.5, 0.21), (0.5, 0.88)],
               *_CUFFS],
        buttons=[(0.5, y) for y in (0.33, 0.46, 0.59, 0.72)]),
    "hoodie": _Shape(
        [_long_sleeved([(0.40, 0.13), (0.5, 0.16), (0.60, 0.13)], 0.88, 0.21)],
        ovals=[(0.33, 0.02, 0.67, 0.30)],
        lines=[[(0.36, 0.80), (0.39, 0.62), (0.61, 0.62), (0.64, 0.80)], [(0.46, 0.27), (0.45, 0.44)],
               [(0.54, 0.27), (0.55, 0.44)], [(0.29, 0.83), (0.71, 0.83)], *_CUFFS],
        holes=[(0.40, 0.07, 0.60, 0.27)]),
    "sweater": _Shape(
        [_long_sleeved([(0.40, 0.13), (0.44, 0.18), (0.5, 0.19), (0.56, 0.18), (0.60, 0.13)], 0.88, 0.20)],
        lines=[[(0.41, 0.16), (0.45, 0.21), (0.5, 0.22), (0.55, 0.21), (0.59, 0.16)],
               [(0.29, 0.82), (0.71, 0.82)], *_CUFFS,
               *([(0.32 + 0.04 * k, 0.82), (0.32 + 0.04 * k, 0.88)] for k in range(10))]),  # ribbed hem
    "dress": _Shape(
        [[(0.38, 0.08), (0.42, 0.08), (0.45, 0.20), (0.55, 0.20), (0.58, 0.08), (0.62, 0.08), (0.64, 0.22),
          (0.61, 0.42), (0.82, 0.93), (0.18, 0.93), (0.39, 0.42), (0.36, 0.22)]],
        lines=[[(0.39, 0.42), (0.61, 0.42)], [(0.46, 0.48), (0.40, 0.90)], [(0.54, 0.48), (0.60, 0.90)]]),
    "skirt": _Shape(
        [[(0.33, 0.22), (0.67, 0.22), (0.68, 0.29), (0.82, 0.80), (0.18, 0.80), (0.32, 0.29)]],
        lines=[[(0.32, 0.29), (0.68, 0.29)], [(0.45, 0.35), (0.40, 0.78)], [(0.55, 0.35), (0.60, 0.78)]]),
    "trousers": _Shape(
        [[(0.30, 0.08), (0.70, 0.08), (0.74, 0.94), (0.55, 0.94), (0.50, 0.36), (0.45, 0.94), (0.26, 0.94)]],
        lines=[[(0.30, 0.14), (0.70, 0.14)], [(0.5, 0.14), (0.5, 0.32)], [(0.32, 0.14), (0.39, 0.26)],
               [(0.68, 0.14), (0.61, 0.26)]]),
    "shorts": _Shape(
        [[(0.28, 0.26), (0.72, 0.26), (0.79, 0.70), (0.55, 0.72), (0.50, 0.48), (0.45, 0.72), (0.21, 0.70)]],
        lines=[[(0.28, 0.32), (0.72, 0.32)], [(0.5, 0.32), (0.5, 0.46)], [(0.22, 0.65), (0.45, 0.67)],
               [(0.78, 0.65), (0.55, 0.67)]]),
    "jacket": _Shape(
        [_long_sleeved([(0.40, 0.13), (0.60, 0.13)], 0.80, 0.21)],
        lines=[[(0.40, 0.13), (0.45, 0.30), (0.5, 0.42)], [(0.60, 0.13), (0.55, 0.30), (0.5, 0.42)],
               [(0.5, 0.42), (0.5, 0.80)], [(0.33, 0.64), (0.43, 0.64)], [(0.67, 0.64), (0.57, 0.64)],
               *_CUFFS],
        insets=[[(0.42, 0.13), (0.58, 0.13), (0.5, 0.40)]]),
    "coat": _Shape(
        [_long_sleeved([(0.40, 0.12), (0.60, 0.12)], 0.96, 0.25)],
        lines=[[(0.40, 0.12), (0.44, 0.28), (0.5, 0.40)], [(0.60, 0.12), (0.56, 0.28), (0.5, 0.40)],
               [(0.5, 0.40), (0.5, 0.96)], [(0.29, 0.55), (0.71, 0.55)], [(0.29, 0.60), (0.71, 0.60)],
               *_CUFFS],
        buttons=[(x, y) for x in (0.44, 0.56) for y in (0.44, 0.50, 0.68, 0.76)]),
}


def _luminance(rgb: Sequence[int]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _pattern_layer(
    pattern: str, size: int, base: tuple, ink: tuple, accent: tuple, rng: random.Random
) -> Image.Image:
    """A full-size layer of the fabric: `base` with the pattern in `ink`, to be pasted through the mask."""
    layer = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(layer)
    if pattern == "striped":
        period, phase = size / 9, rng.uniform(0, size / 9)
        for k in range(-1, 10):
            y = phase + k * period
            draw.rectangle((0, y, size, y + period * 0.45), fill=ink)
    elif pattern == "checked":  # gingham: half-strength bands both ways, full strength where they cross
        cell, bands = size / 10, [Image.new("L", (size, size), 0) for _ in range(2)]
        for k in range(0, 11, 2):
            ImageDraw.Draw(bands[0]).rectangle((0, k * cell, size, (k + 1) * cell), fill=128)
            ImageDraw.Draw(bands[1]).rectangle((k * cell, 0, (k + 1) * cell, size), fill=128)
        layer.paste(ink, mask=ImageChops.add(*bands))
    elif pattern == "polka dot":
        step, r = size / 7, size / 35
        for row in range(-1, 9):
            for col in range(-1, 9):
                x, y = (col + row % 2 / 2) * step, row * step
                draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    elif pattern == "floral":
        step, r = size / 4.5, size / 34
        for row in range(-1, 6):
            for col in range(-1, 6):
                x = (col + row % 2 / 2) * step + rng.uniform(-0.15, 0.15) * step
                y = row * step + rng.uniform(-0.15, 0.15) * step
                turn = rng.uniform(0, 2 * math.pi)
                for petal in range(5):
                    px = x + 1.3 * r * math.cos(turn + petal * 2 * math.pi / 5)
                    py = y + 1.3 * r * math.sin(turn + petal * 2 * math.pi / 5)
                    draw.ellipse((px - r, py - r, px + r, py + r), fill=ink)
                draw.ellipse((x - 0.8 * r, y - 0.8 * r, x + 0.8 * r, y + 0.8 * r), fill=accent)
    return layer


def draw_product(product: Product, size: int = 128, seed: int = 0) -> Image.Image:
    """An RGB `size` x `size` picture of the product, varied a little by its id and `seed`."""
    rng = random.Random(f"{seed}:{product.id}")
    big = size * _SUPERSAMPLE
    scale, dx, dy = rng.uniform(0.9, 1.0), rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03)
    k, ox, oy = scale * big, (0.5 - 0.5 * scale + dx) * big, (0.5 - 0.5 * scale + dy) * big

    def at(points: _Points) -> list[tuple[float, float]]:  # unit coordinates -> pixels
        return [(ox + x * k, oy + y * k) for x, y in points]

    grey, shade = rng.randint(222, 238), rng.randint(-10, 10)  # shade: lighter or darker, hue kept
    background = tuple(grey + rng.randint(-4, 4) for _ in range(3))
    base = tuple(min(255, max(0, c + shade + rng.randint(-4, 4))) for c in COLOURS[product.color])
    ink = (40, 40, 48) if _luminance(base) > 150 else (245, 244, 240)  # pattern contrasts with the fabric
    detail = tuple(int(c * 0.55) for c in base) if _luminance(base) > 70 else tuple(c + 80 for c in base)
    accent = COLOURS["red" if product.color == "yellow" else "yellow"]
    shape = SHAPES[product.garment]

    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in shape.polygons:
        draw.polygon(at(polygon), fill=255)
    for oval in shape.ovals:
        draw.ellipse(at([oval[:2], oval[2:]]), fill=255)

    image = Image.new("RGB", (big, big), background)
    image.paste(_pattern_layer(product.pattern, big, base, ink, accent, rng), mask=mask)
    image.paste(detail, mask=ImageChops.subtract(mask.filter(ImageFilter.MaxFilter(5)), mask))
    draw, width = ImageDraw.Draw(image), max(1, round(big * 0.012))
    for inset in shape.insets:
        draw.polygon(at(inset), fill=ink, outline=detail, width=width)
    for hole in shape.holes:
        draw.ellipse(at([hole[:2], hole[2:]]), fill=detail)
    for line in shape.lines:
        draw.line(at(line), fill=detail, width=width, joint="curve")
    for x, y in shape.buttons:
        draw.ellipse(at([(x - 0.014, y - 0.014), (x + 0.014, y + 0.014)]), fill=detail)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def write_catalog(
    folder: Path, count: int = 2000, seed: int = 0, size: int = 128, progress: bool = True
) -> Path:
    """Draw `count` products into `folder`/images and list them in `folder`/catalog.csv; returns the CSV path.

    Returns at once when the catalog there was already written with the same count, seed and size. The CSV
    is written last and renamed into place, so a half-written catalog never counts as complete.
    """
    folder = Path(folder)
    csv_path, manifest_path = folder / "catalog.csv", folder / "manifest.json"
    manifest = json.dumps({"count": count, "seed": seed, "size": size})
    if csv_path.exists() and manifest_path.exists() and manifest_path.read_text() == manifest:
        return csv_path
    csv_path.unlink(missing_ok=True)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for stale in images.glob("demo-*.png"):
        stale.unlink()
    products = generate_products(count, seed)
    for product in tqdm(products, desc="Drawing demo catalog", unit="img", disable=not progress):
        draw_product(product, size, seed).save(folder / product.image)
    manifest_path.write_text(manifest)
    partial = csv_path.with_suffix(".csv.tmp")
    with partial.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=_COLUMNS)
        writer.writeheader()
        writer.writerows({**asdict(p), "price": f"{p.price:.2f}"} for p in products)
    os.replace(partial, csv_path)
    return csv_path
