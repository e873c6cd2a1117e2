"""Ids and attribute values hold any characters: stored and found exactly, never changing a query's meaning."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.catalog_store import CatalogStore, build_filter, quote
from atelier.triton_client import EmbeddingModel

pytestmark = pytest.mark.integration

HOSTILE = ['x" or id != "', 'q"uote', "trail\\", "new\nline", "tab\there", "it's", "\\\"both", "naïve ✓",
           "ctrl\x01\x0b\x0c\x7fchar", "nul\x00byte", "crlf\r\n", "line\u2028sep", "back\\nslash-n", '" || true || "']


@pytest.fixture(scope="module")
def store(milvus_uri: str) -> CatalogStore:
    model = EmbeddingModel("hostile-test", "0" * 64, 8)
    store = CatalogStore(milvus_uri, "hostile_ids")
    ids = [*HOSTILE, *(f"plain-{n:04d}" for n in range(2500))]  # more than one page of the catalog reader
    rows = [{"id": id_, "title": f"title {id_}", "color": HOSTILE[n % len(HOSTILE)], "image_uri": "/x.png"}
            for n, id_ in enumerate(ids)]
    vectors = np.random.default_rng(0).normal(size=(len(rows), 8))
    for start in range(0, len(rows), 1000):
        store.upsert(rows[start:start + 1000], vectors[start:start + 1000], model)
    return store


def test_every_id_is_read_back_exactly_once(store: CatalogStore) -> None:
    ids = store.ids()
    assert len(ids) == len(HOSTILE) + 2500
    assert sorted(ids) == sorted({*HOSTILE, *(f"plain-{n:04d}" for n in range(2500))})


@pytest.mark.parametrize("id_", HOSTILE)
def test_a_hostile_id_is_found_exactly(store: CatalogStore, id_: str) -> None:
    assert [row["id"] for row in store.client.query(store.collection, filter=f"id == {quote(id_)}")] == [id_]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_filter_on_a_hostile_value_matches_that_value_only(store: CatalogStore, value: str) -> None:
    expected = store.count() // len(HOSTILE) + (1 if HOSTILE.index(value) < store.count() % len(HOSTILE) else 0)
    assert store.count(build_filter({"color": value})) == expected
