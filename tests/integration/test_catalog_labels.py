"""Ingest labels every product with zero-shot fashion labels, and search filters on them (live Triton, Milvus)."""

from __future__ import annotations

import pytest

from atelier.catalog_store import CONFIDENCE_FIELDS, LABEL_FIELDS, CatalogStore, connect
from atelier.config import AtelierError
from atelier.search import CatalogSearch, Query

pytestmark = pytest.mark.integration


def test_every_ingested_product_has_labels_with_confidences(demo_store) -> None:
    rows = demo_store.rows(["id", *LABEL_FIELDS, *CONFIDENCE_FIELDS])
    assert rows and all(row["label_color"] and row["label_style"] for row in rows)
    assert all(0.0 <= row[name] <= 1.0 for row in rows for name in CONFIDENCE_FIELDS)


def test_search_filters_on_a_label(triton, demo_store) -> None:
    values = demo_store.attribute_values()["label_style"]
    assert values
    hits = CatalogSearch(triton, demo_store).search(Query(text="a shirt", equals={"label_style": [values[0]]},
                                                          top_k=20))
    assert hits and {hit.fields["label_style"] for hit in hits} == {values[0]}


def test_a_collection_made_before_labels_is_refused_with_a_clear_message(triton, milvus_uri) -> None:
    model = triton.embedding_model()
    connect(milvus_uri).create_collection("before_labels", dimension=model.dim, id_type="string", max_length=64)
    with pytest.raises(AtelierError, match="was made before fashion labels and image fingerprints"):
        CatalogStore(milvus_uri, "before_labels").create(model)
