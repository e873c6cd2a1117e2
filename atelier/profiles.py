"""Shopper profiles from order-history exports, and the blend of a search with a shopper's taste.

Orders are read from a shopper's export by `ingest.orders.read_order_history`.

Profile (`build_profile`):
  categories, colours, patterns  each value's share of the purchased units (quantities) that name one,
                                 largest first
  price_band                     (25th, 50th, 75th percentile) of the unit prices, one per unit, linear
                                 interpolation: the median and the interquartile range
  taste                          the normalised quantity-weighted mean of the unit-length embeddings of the
                                 purchased products that `embeddings` (catalog id -> vector) holds; None if none

Blend: normalize((1 - w) * query + w * taste) for unit-length query and taste; w = 0 is the query alone,
w = 1 the taste alone. `explain` says it in words, weight first.

Storage: `<folder>/<name>.json` holds the shopper's name and normalised order lines: only what the export
contained. Preferences and the taste are derived when a profile is loaded, so they follow the catalog's
current embeddings.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atelier.config import AtelierError
from atelier.trends import unit_rows


@dataclass(frozen=True, eq=False)
class ShopperProfile:
    name: str
    orders: list[dict[str, Any]]
    categories: dict[str, float]  # value -> share of the units that name one, largest first
    colours: dict[str, float]
    patterns: dict[str, float]
    price_band: tuple[float, float, float] | None  # 25th, 50th, 75th percentile of the unit prices
    taste: np.ndarray | None  # unit length, or None when no purchase has an embedding
    taste_units: int  # the purchased units the taste is made of

    @property
    def units(self) -> int:
        return sum(order["quantity"] for order in self.orders)


def _shares(orders: list[dict[str, Any]], name: str) -> dict[str, float]:
    units = Counter()
    for order in orders:
        if order[name]:
            units[order[name]] += order["quantity"]
    total = sum(units.values())
    return {value: count / total for value, count in sorted(units.items(), key=lambda item: (-item[1], item[0]))}


def build_profile(name: str, orders: list[dict[str, Any]],
                  embeddings: Mapping[str, np.ndarray] | None = None) -> ShopperProfile:
    """The profile of a shopper's order lines; `embeddings` maps catalog product ids to their embeddings."""
    if not orders:
        raise AtelierError(f"{name}'s order history has no usable lines")
    prices = [order["price"] for order in orders for _ in range(order["quantity"]) if order["price"] is not None]
    band = tuple(round(float(p), 2) for p in np.percentile(prices, [25, 50, 75])) if prices else None
    bought = [order for order in orders if embeddings is not None and order["product_id"] in embeddings]
    taste, taste_units = None, 0
    if bought:
        vectors = unit_rows(np.stack([embeddings[order["product_id"]] for order in bought]), "the embeddings")
        total = np.array([order["quantity"] for order in bought], dtype=np.float64) @ vectors
        if np.linalg.norm(total) > 1e-12:
            taste, taste_units = total / np.linalg.norm(total), sum(order["quantity"] for order in bought)
    return ShopperProfile(name, orders, _shares(orders, "category"), _shares(orders, "color"),
                          _shares(orders, "pattern"), band, taste, taste_units)


def blend(query_embedding: np.ndarray, profile: ShopperProfile, weight: float) -> np.ndarray:
    """normalize((1 - weight) * query + weight * taste): the search leaning `weight` towards the shopper's taste."""
    if not 0.0 <= weight <= 1.0:
        raise AtelierError(f"the history weight must be between 0 and 1, not {weight}")
    query = np.asarray(query_embedding, dtype=np.float64)
    if query.ndim != 1 or not np.linalg.norm(query) > 1e-12:
        raise ValueError("the query embedding must be one non-zero vector")
    query = query / np.linalg.norm(query)
    if weight == 0.0:
        return query
    if profile.taste is None:
        raise AtelierError(f"none of {profile.name}'s purchases is in the catalog, so there is no taste to lean "
                           "towards; set the history weight to 0")
    if profile.taste.shape != query.shape:
        raise ValueError(f"the taste has {profile.taste.shape[0]} dimensions, the query {query.shape[0]}: "
                         "the profile was built with another embedding model")
    mixed = (1.0 - weight) * query + weight * profile.taste
    norm = float(np.linalg.norm(mixed))
    if norm < 1e-6:
        raise AtelierError("the search and the shopper's history cancel each other out at this weight; change it")
    return mixed / norm


def explain(profile: ShopperProfile, weight: float) -> str:
    """The blend in words, e.g. "30% your history (5 purchases): mostly navy, checked, tops around 45"."""
    if weight == 0.0:
        return "0% your history: the results follow your search only"
    lead = f"{weight:.0%} your history ({profile.units} purchase{'s' if profile.units != 1 else ''})"
    mostly = ", ".join(next(iter(shares)) for shares in (profile.colours, profile.patterns, profile.categories)
                       if shares)
    around = f"around {profile.price_band[1]:.0f}" if profile.price_band else ""
    described = " ".join(part for part in (f"mostly {mostly}" if mostly else "", around) if part)
    return f"{lead}: {described}" if described else lead


def prompt_preferences(profile: ShopperProfile, weight: float, exclude: Iterable[str] = ()) -> str:
    """Prompt words for the shopper's favourite colours (two) and pattern (not solid), e.g. "navy and grey tones,
    checked pattern"; empty at weight 0 or when the history names none. `exclude`: words the conversation already
    chose or avoids."""
    if weight == 0.0:
        return ""
    skip = set(exclude)
    colours = [colour for colour in profile.colours if colour not in skip][:2]
    pattern = next((p for p in profile.patterns if p != "solid" and p not in skip), None)
    parts = [f"{' and '.join(colours)} tones" if colours else "", f"{pattern} pattern" if pattern else ""]
    return ", ".join(part for part in parts if part)


def _file(folder: Path, name: str) -> Path:
    slug = re.sub(r"[\W_]+", "-", name.lower()).strip("-")
    if not slug:
        raise AtelierError(f"a shopper name needs letters or digits, not {name!r}")
    return Path(folder) / f"{slug}.json"


def save_profile(folder: Path, name: str, orders: list[dict[str, Any]]) -> Path:
    """Store a shopper's normalised order lines as `<folder>/<name>.json`, replacing an earlier import."""
    path = _file(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A shopper's order history: readable by its owner only, from the moment it exists.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"name": name, "orders": orders}, indent=1, ensure_ascii=False))
    path.chmod(0o600)  # a file from an earlier import keeps its old mode otherwise
    return path


def load_profile(folder: Path, name: str, embeddings: Mapping[str, np.ndarray] | None = None) -> ShopperProfile:
    """The profile of a stored shopper, its taste from `embeddings` (catalog id -> embedding)."""
    path = _file(folder, name)
    if not path.is_file():
        raise AtelierError(f"there is no profile for {name!r} in {folder}; import their order export first")
    stored = json.loads(path.read_text(encoding="utf-8"))
    return build_profile(stored["name"], stored["orders"], embeddings)


def load_profile_with_taste(folder: Path, name: str,
                            lookup: Callable[[list[str]], Mapping[str, np.ndarray]]) -> ShopperProfile:
    """load_profile with the taste of what they bought: `lookup` gives the catalog embeddings of product ids
    (CatalogStore.embeddings)."""
    stored = load_profile(folder, name)
    return build_profile(stored.name, stored.orders,
                         lookup([order["product_id"] for order in stored.orders if order["product_id"]]))


@dataclass(frozen=True)
class Lean:
    """How far results lean towards a shopper's history: searches blend with their taste, prompts name their likes."""

    profile: ShopperProfile | None = None
    weight: float = 0.0

    @property
    def active(self) -> bool:
        return self.profile is not None and self.weight > 0

    def note(self) -> str:
        return f" ({explain(self.profile, self.weight)})" if self.active else ""


NO_LEAN = Lean()


def profile_names(folder: Path) -> list[str]:
    """The names of the shoppers stored in `folder`, sorted."""
    paths = sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []
    return sorted(json.loads(path.read_text(encoding="utf-8"))["name"] for path in paths)
