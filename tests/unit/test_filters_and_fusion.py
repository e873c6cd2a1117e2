from __future__ import annotations

import numpy as np
import pytest

from atelier.catalog_store import build_filter, quote
from atelier.config import AtelierError
from atelier.search import fuse


def test_quote_escapes_quotes_and_backslashes():
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("back\\slash") == '"back\\\\slash"'
    assert quote("two\nlines\tand\r") == '"two\\nlines\\tand\\r"'  # a raw line break ends Milvus' literal


def test_build_filter_combines_fields_and_price_range():
    expr = build_filter({"color": ["red", "navy"], "category": "tops"}, min_price=10, max_price=80.5)
    assert expr == 'color in ["red", "navy"] and category in ["tops"] and price >= 10.0 and price <= 80.5'


def test_build_filter_ignores_empty_selections():
    assert build_filter({"color": []}) == ""


def test_build_filter_refuses_unknown_fields():
    with pytest.raises(AtelierError, match="cannot filter on 'embedding'"):
        build_filter({"embedding": ["x"]})


def test_fuse_is_normalised_weighted_sum():
    image, text = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(fuse(image, text, 1.0), image)
    np.testing.assert_allclose(fuse(image, text, 0.0), text)
    np.testing.assert_allclose(fuse(image, text, 0.75), np.array([0.75, 0.25]) / np.hypot(0.75, 0.25))


def test_fuse_rejects_weights_outside_0_1_and_cancelling_vectors():
    with pytest.raises(AtelierError, match="between 0 and 1"):
        fuse(np.ones(2), np.ones(2), 1.5)
    with pytest.raises(AtelierError, match="cancel"):
        fuse(np.array([1.0, 0.0]), np.array([-1.0, 0.0]), 0.5)


def test_a_name_search_escapes_likes_wildcards_and_tries_the_usual_cases():
    expr = build_filter(text=" 100%_linen ")
    assert '"%100\\\\%\\\\_linen%"' in expr and '"%100\\\\%\\\\_Linen%"' in expr  # \% and \_ inside the literal
    assert expr.count(" like ") == 3 * 2 and expr.startswith("(title like ")
    assert build_filter(text="   ") == ""
