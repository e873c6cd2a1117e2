import hashlib
import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from atelier import demo_catalog
from atelier.demo_catalog import BRANDS, Product, draw_product, generate_products, write_catalog
from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS

COLUMNS = ["id", "title", "category", "garment", "color", "pattern", "brand", "price", "image"]


def _product(garment: str = "shirt", color: str = "red", pattern: str = "solid", pid: str = "demo-000007"):
    return Product(pid, "x", garment, GARMENTS[garment], color, pattern, BRANDS[0], 10.0, f"images/{pid}.png")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(float)


def _garment_mask(product: Product) -> np.ndarray:
    """Pixels of the garment, from a solid mid-dark version of it (geometry depends only on id and seed)."""
    pixels = _pixels(draw_product(replace(product, color="navy", pattern="solid")))
    return np.abs(pixels - pixels[0, 0]).max(axis=2) > 40


def test_vocabulary():
    assert GARMENTS.keys() >= {
        "t-shirt", "shirt", "hoodie", "sweater", "dress", "skirt", "trousers", "shorts", "jacket", "coat"
    }
    assert GARMENTS["coat"] == "outerwear" and GARMENTS["trousers"] == "bottoms"
    assert GARMENTS["dress"] == "dresses" and GARMENTS["hoodie"] == "tops"
    assert {"black", "white", "red", "navy", "sage", "beige"} <= COLOURS.keys() and len(COLOURS) >= 12
    assert all(len(rgb) == 3 and all(0 <= c <= 255 for c in rgb) for rgb in COLOURS.values())
    assert PATTERNS == ("solid", "striped", "checked", "polka dot", "floral")
    assert len(set(BRANDS)) >= 8


def test_products_are_deterministic_per_seed():
    assert generate_products(300, seed=7) == generate_products(300, seed=7)
    assert generate_products(300, seed=7) != generate_products(300, seed=8)
    assert generate_products(300, seed=7)[:50] == generate_products(50, seed=7)


def test_every_garment_colour_and_pattern_appears_evenly():
    products = generate_products(200)
    garments, colours = Counter(p.garment for p in products), Counter(p.color for p in products)
    patterns = Counter(p.pattern for p in products)
    assert garments.keys() == GARMENTS.keys() and set(garments.values()) == {20}
    assert patterns.keys() == set(PATTERNS) and set(patterns.values()) == {40}
    assert colours.keys() == COLOURS.keys() and max(colours.values()) - min(colours.values()) <= 2
    first = generate_products(50)
    assert {p.garment for p in first} | {p.color for p in first} | {p.pattern for p in first} == (
        GARMENTS.keys() | COLOURS.keys() | set(PATTERNS)
    )


def test_a_full_cycle_holds_every_combination_once():
    combos = [(p.garment, p.color, p.pattern) for p in generate_products(2 * 600, seed=3)]
    assert len(set(combos[:600])) == 600 == len(set(combos[600:]))
    assert combos[:600] != combos[600:]  # the next cycle is shuffled anew


def test_ids_titles_and_fields():
    products = generate_products(200, seed=1)
    assert [p.id for p in products[:3]] == ["demo-000001", "demo-000002", "demo-000003"]
    assert len({p.id for p in products}) == 200
    for p in products:
        assert p.image == f"images/{p.id}.png"
        assert p.category == GARMENTS[p.garment] and p.brand in BRANDS
        assert p.title.startswith(p.brand) and p.title.endswith(p.garment)
        assert p.color in p.title.split() and (p.pattern == "solid" or p.pattern in p.title)
        assert p.price > 0 and round(p.price, 2) == p.price


def test_prices_follow_the_garment():
    products = generate_products(600)
    prices = {g: [p.price for p in products if p.garment == g] for g in GARMENTS}
    assert min(prices["coat"]) > max(prices["t-shirt"])
    assert np.mean(prices["jacket"]) > np.mean(prices["shorts"])


def test_drawing_is_deterministic_and_varied():
    product = generate_products(5)[4]
    image = draw_product(product)
    assert image.mode == "RGB" and image.size == (128, 128)
    assert draw_product(product).tobytes() == image.tobytes()
    assert draw_product(product, seed=1).tobytes() != image.tobytes()
    assert draw_product(product, size=64).size == (64, 64)
    digests = {hashlib.sha256(draw_product(p).tobytes()).digest() for p in generate_products(120)}
    assert len(digests) == 120
    # same garment, colour and pattern, other id: still not the same picture
    assert draw_product(replace(product, id="demo-000099")).tobytes() != image.tobytes()


@pytest.mark.parametrize("garment", ["t-shirt", "dress", "trousers", "coat"])
def test_solid_colours_show_in_the_garment(garment):
    means = {}
    for colour in ("red", "blue", "yellow", "black", "white"):
        product = _product(garment, colour)
        means[colour] = _pixels(draw_product(product))[_garment_mask(product)].mean(axis=0)
    red, blue, yellow = means["red"], means["blue"], means["yellow"]
    assert red[0] > red[2] + 100 and red[0] > red[1] + 100
    assert blue[2] > blue[0] + 100
    assert min(yellow[0], yellow[1]) > yellow[2] + 100
    assert means["white"].mean() > means["black"].mean() + 150


def test_colour_jitter_keeps_the_colour_name():
    shades = set()
    for p in generate_products(600):
        if p.pattern == "solid":
            fabric = np.median(_pixels(draw_product(p))[_garment_mask(p)], axis=0)  # seams and outline aside
            assert np.abs(fabric - COLOURS[p.color]).max() <= 16, (p, fabric)
            shades.add((p.color, *fabric))
    assert len(shades) > 100  # but each product has its own shade


@pytest.mark.parametrize("colour", ["red", "beige", "navy", "yellow"])
def test_patterns_are_visible_and_distinct(colour):
    images = {pattern: _product("sweater", colour, pattern) for pattern in PATTERNS}
    mask = _garment_mask(images["solid"])
    pixels = {pattern: _pixels(draw_product(p))[mask] for pattern, p in images.items()}
    solid_spread = pixels["solid"].std(axis=0).mean()
    for pattern in PATTERNS[1:]:
        assert pixels[pattern].std(axis=0).mean() > solid_spread + 15, pattern
        assert np.abs(pixels[pattern] - pixels["solid"]).mean() > 10, pattern
    assert np.abs(pixels["striped"] - pixels["checked"]).mean() > 20


def test_silhouettes_differ_by_garment():
    masks = {g: _garment_mask(_product(g)) for g in GARMENTS}
    for garment, mask in masks.items():
        assert 0.1 < mask.mean() < 0.7, garment
        assert not mask[0].any() and not mask[:, 0].any(), garment  # it fits in the frame

    def iou(a: str, b: str) -> float:
        return (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()

    for a, b in [("t-shirt", "shirt"), ("skirt", "shorts"), ("trousers", "shorts"), ("dress", "skirt"),
                 ("hoodie", "t-shirt"), ("trousers", "coat")]:
        assert iou(a, b) < 0.75, (a, b)

    def hem(garment: str) -> int:
        return int(np.nonzero(masks[garment].any(axis=1))[0].max())

    assert hem("coat") > hem("jacket") + 12 and hem("trousers") > hem("shorts") + 20
    # long-sleeved tops share a body; their details (collar, hood, ribbing) still tell them apart
    shirt, sweater = (_pixels(draw_product(_product(g))) for g in ("shirt", "sweater"))
    assert (np.abs(shirt - sweater).max(axis=2) > 60).sum() > 100


def test_write_catalog(tmp_path):
    folder = tmp_path / "demo"
    csv_path = write_catalog(folder, count=24, seed=5, progress=False)
    assert csv_path == folder / "catalog.csv"
    table = pd.read_csv(csv_path)
    assert list(table.columns) == COLUMNS and len(table) == 24
    expected = generate_products(24, seed=5)
    assert table["id"].tolist() == [p.id for p in expected]
    assert table["price"].tolist() == [p.price for p in expected]
    for row in table.itertuples():
        with Image.open(folder / row.image) as image:
            assert image.format == "PNG" and image.mode == "RGB" and image.size == (128, 128)
    first = expected[0]
    assert (folder / first.image).read_bytes() == _png_bytes(draw_product(first, 128, seed=5), tmp_path)
    assert json.loads((folder / "manifest.json").read_text()) == {"count": 24, "seed": 5, "size": 128}
    assert sorted(p.name for p in folder.iterdir()) == ["catalog.csv", "images", "manifest.json"]


def _png_bytes(image: Image.Image, tmp_path) -> bytes:
    path = tmp_path / "reference.png"
    image.save(path)
    return path.read_bytes()


def test_second_call_is_skipped(tmp_path, monkeypatch):
    csv_path = write_catalog(tmp_path, count=10, progress=False)
    files = [csv_path, *sorted((tmp_path / "images").iterdir())]
    mtimes = [f.stat().st_mtime_ns for f in files]

    def must_not_draw(*args, **kwargs):
        raise AssertionError("redrawn")

    monkeypatch.setattr(demo_catalog, "draw_product", must_not_draw)
    assert write_catalog(tmp_path, count=10, progress=False) == csv_path
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    with pytest.raises(AssertionError, match="redrawn"):  # other settings do redraw
        write_catalog(tmp_path, count=10, size=64, progress=False)


def test_changed_settings_rewrite_the_catalog(tmp_path):
    write_catalog(tmp_path, count=12, progress=False)
    write_catalog(tmp_path, count=6, size=64, progress=False)
    assert len(pd.read_csv(tmp_path / "catalog.csv")) == 6
    images = sorted((tmp_path / "images").iterdir())
    assert len(images) == 6  # no stale images from the larger catalog
    with Image.open(images[0]) as image:
        assert image.size == (64, 64)


def test_interrupted_rewrite_leaves_no_catalog_and_is_redrawn(tmp_path, monkeypatch):
    write_catalog(tmp_path, count=8, progress=False)
    real_draw, calls = demo_catalog.draw_product, []

    def interrupted_draw(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(demo_catalog, "draw_product", interrupted_draw)
    with pytest.raises(KeyboardInterrupt):
        write_catalog(tmp_path, count=8, size=64, progress=False)
    assert not (tmp_path / "catalog.csv").exists()  # a half-written catalog is never taken as complete
    monkeypatch.setattr(demo_catalog, "draw_product", real_draw)
    csv_path = write_catalog(tmp_path, count=8, progress=False)  # the old settings, yet redrawn
    images = sorted((tmp_path / "images").iterdir())
    assert len(pd.read_csv(csv_path)) == 8 and len(images) == 8
    assert all(Image.open(path).size == (128, 128) for path in images)
