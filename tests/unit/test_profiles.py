from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from atelier.config import AtelierError
from atelier.profiles import (
    blend,
    build_profile,
    explain,
    load_profile,
    profile_names,
    prompt_preferences,
    save_profile,
)
from ingest.orders import read_order_history

E = np.eye(4)
EMBEDDINGS = {"d-1": 2 * E[0], "d-2": E[1]}  # d-3 is not in the catalog; any length: vectors are normalised


def order_csv(tmp_path):
    path = tmp_path / "orders.csv"
    pd.DataFrame([
        {"Order Date": "2024-01-05", "Product ID": "d-1", "Title": "Navy checked shirt", "Category": "Tops",
         "Colour": "Navy Blue", "Unit Price": "$45.00", "Qty": "2"},
        {"Order Date": "2024-02-01T10:00:00Z", "Product ID": "d-2", "Title": "Grey trousers", "Category": "Trousers",
         "Colour": "grey", "Unit Price": "60", "Qty": ""},
        {"Order Date": "", "Product ID": "d-3", "Title": "Linden navy striped t-shirt", "Category": "", "Colour": "",
         "Unit Price": "20", "Qty": "1"},
        {"Order Date": "2024-03-01", "Product ID": "", "Title": "", "Category": "Tops", "Colour": "red",
         "Unit Price": "10", "Qty": "1"},
        {"Order Date": "2024-03-02", "Product ID": "d-5", "Title": "Hat", "Category": "", "Colour": "",
         "Unit Price": "free", "Qty": "1"},
        {"Order Date": "2024-03-03", "Product ID": "d-6", "Title": "Belt", "Category": "", "Colour": "",
         "Unit Price": "5", "Qty": "0"},
        {"Order Date": "last tuesday", "Product ID": "d-7", "Title": "Scarf", "Category": "", "Colour": "",
         "Unit Price": "5", "Qty": "1"},
    ]).to_csv(path, index=False)
    return path


def test_orders_are_read_with_tolerant_columns_and_rejects(tmp_path):
    orders, rejects = read_order_history(order_csv(tmp_path))
    assert orders[0] == {"product_id": "d-1", "title": "Navy checked shirt", "category": "tops", "color": "navy",
                         "pattern": "checked", "price": 45.0, "quantity": 2, "date": "2024-01-05T00:00:00+00:00"}
    assert (orders[1]["category"], orders[1]["quantity"], orders[1]["pattern"]) == ("bottoms", 1, "")
    assert {k: orders[2][k] for k in ("category", "color", "pattern", "date")} == {
        "category": "tops", "color": "navy", "pattern": "striped", "date": ""}  # from the title
    assert [(r.line, r.reason) for r in rejects] == [
        (4, "no product id or title"),
        (5, "price 'free' is not a non-negative number"),
        (6, "quantity '0' is not a positive whole number"),
        (7, "date 'last tuesday' is neither ISO 8601 nor unix seconds or milliseconds"),
    ]


def test_nested_json_orders(tmp_path):
    path = tmp_path / "shop.json"
    path.write_text(json.dumps({"orders": [
        {"id": 1001, "created_at": "2024-01-05T10:00:00Z", "line_items": [
            {"sku": "d-1", "name": "Shirt", "price": "45.00", "quantity": 1}, "oops"]},
        {"order_date": 1704103200, "items": [{"product_id": "d-2", "price": 10}]},
    ]}))
    orders, rejects = read_order_history(path)
    assert [(o["product_id"], o["date"]) for o in orders] == [("d-1", "2024-01-05T10:00:00+00:00"),
                                                              ("d-2", "2024-01-01T10:00:00+00:00")]
    assert [(r.line, r.reason) for r in rejects] == [(1, "an order line must be a JSON object")]


def test_profile_preferences_price_band_and_taste(tmp_path):
    orders, _ = read_order_history(order_csv(tmp_path))
    profile = build_profile("Ana", orders, EMBEDDINGS)
    assert profile.units == 4
    assert profile.colours == {"navy": 0.75, "grey": 0.25}
    assert profile.categories == {"tops": 0.75, "bottoms": 0.25}
    assert profile.patterns == pytest.approx({"checked": 2 / 3, "striped": 1 / 3})
    assert profile.price_band == (38.75, 45.0, 48.75)  # unit prices 20, 45, 45, 60
    np.testing.assert_allclose(profile.taste, np.array([2, 1, 0, 0]) / math.sqrt(5))  # 2 x d-1, 1 x d-2
    assert profile.taste_units == 3
    assert build_profile("Ana", orders).taste is None


def test_blend_weights_and_explanation(tmp_path):
    orders, _ = read_order_history(order_csv(tmp_path))
    profile = build_profile("Ana", orders, EMBEDDINGS)
    query, taste = E[2], profile.taste
    np.testing.assert_allclose(blend(query, profile, 0.0), query)
    np.testing.assert_allclose(blend(query, profile, 0.5), (query + taste) / np.linalg.norm(query + taste))
    np.testing.assert_allclose(blend(query, profile, 1.0), taste)
    np.testing.assert_allclose(blend(3 * query, profile, 0.0), query)
    assert explain(profile, 0.3) == "30% your history (4 purchases): mostly navy, checked, tops around 45"
    assert explain(profile, 0.0) == "0% your history: the results follow your search only"
    assert prompt_preferences(profile, 0.3) == "navy and grey tones, checked pattern"
    assert prompt_preferences(profile, 0.3, exclude=["navy", "checked"]) == "grey tones, striped pattern"
    assert prompt_preferences(profile, 0.0) == ""


def test_blend_refusals(tmp_path):
    orders, _ = read_order_history(order_csv(tmp_path))
    with pytest.raises(AtelierError, match="between 0 and 1"):
        blend(E[2], build_profile("Ana", orders, EMBEDDINGS), 1.5)
    with pytest.raises(AtelierError, match="no taste"):
        blend(E[2], build_profile("Ana", orders), 0.3)
    with pytest.raises(AtelierError, match="cancel each other out"):
        blend(-build_profile("Ana", orders, EMBEDDINGS).taste, build_profile("Ana", orders, EMBEDDINGS), 0.5)
    with pytest.raises(AtelierError, match="no usable lines"):
        build_profile("Ana", [])


def test_profiles_are_stored_per_shopper(tmp_path):
    orders, _ = read_order_history(order_csv(tmp_path))
    folder = tmp_path / "profiles"
    path = save_profile(folder, "Ana María", orders)
    assert path == folder / "ana-maría.json"
    assert path.stat().st_mode & 0o777 == 0o600  # an order history is its owner's only
    assert json.loads(path.read_text(encoding="utf-8")) == {"name": "Ana María", "orders": orders}
    loaded = load_profile(folder, "Ana María", EMBEDDINGS)
    assert loaded.colours == {"navy": 0.75, "grey": 0.25} and loaded.taste_units == 3
    assert profile_names(folder) == ["Ana María"] and profile_names(tmp_path / "none") == []
    with pytest.raises(AtelierError, match="no profile for 'Bo'"):
        load_profile(folder, "Bo")
    with pytest.raises(AtelierError, match="letters or digits"):
        save_profile(folder, "!!", orders)
