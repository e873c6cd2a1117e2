"""Search through the live Triton server and Milvus Lite over the ingested demo catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from atelier.catalog_store import CatalogStore, ModelMismatchError
from atelier.search import CatalogSearch, Query
from atelier.triton_client import EmbeddingModel

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def search(triton, demo_store) -> CatalogSearch:
    return CatalogSearch(triton, demo_store)


def test_text_search_returns_ranked_products(search):
    hits = search.search(Query(text="red striped shirt", top_k=10))
    assert len(hits) == 10
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(hit.fields["title"] and Path(hit.fields["image_uri"]).is_file() for hit in hits)


def test_image_search_finds_the_product_itself(search, demo_store):
    product = demo_store.client.query(demo_store.collection, filter='id == "demo-000042"', output_fields=["image_uri"])
    image = Path(product[0]["image_uri"]).read_bytes()
    hits = search.search(Query(image=image, top_k=5))
    assert hits[0].id == "demo-000042" and hits[0].score > 0.999


def test_fused_query_weight_moves_between_text_and_image(search, triton):
    image = Path(search.search(Query(text="dress", top_k=1))[0].fields["image_uri"]).read_bytes()
    text = "navy checked coat"
    only_image, _ = search.embed(Query(image=image))
    only_text, _ = search.embed(Query(text=text))
    at_one, _ = search.embed(Query(text=text, image=image, image_weight=1.0))
    at_zero, _ = search.embed(Query(text=text, image=image, image_weight=0.0))
    halfway, _ = search.embed(Query(text=text, image=image, image_weight=0.5))
    np.testing.assert_allclose(at_one, only_image, atol=1e-6)
    np.testing.assert_allclose(at_zero, only_text, atol=1e-6)
    expected = (only_image + only_text) / np.linalg.norm(only_image + only_text)
    np.testing.assert_allclose(halfway, expected, atol=1e-6)


def test_filters_are_respected(search):
    hits = search.search(Query(text="something to wear", equals={"color": ["red", "navy"], "category": ["tops"]},
                               max_price=80.0, top_k=50))
    assert hits, "the demo catalog has red and navy tops under 80"
    assert all(h.fields["color"] in ("red", "navy") and h.fields["category"] == "tops" for h in hits)
    assert all(h.fields["price"] <= 80.0 for h in hits)


def test_filter_values_with_quotes_are_safe(search):
    assert search.search(Query(text="shirt", equals={"brand": ['Mc"Quote\\']})) == []


def test_a_collection_filled_by_another_model_is_refused(triton, milvus_uri):
    served = triton.embedding_model()
    other = EmbeddingModel("someone-elses-clip", "f" * 64, served.dim)
    store = CatalogStore(milvus_uri, "filled_by_other_model")
    rng = np.random.default_rng(0)
    store.upsert([{"id": "x1", "title": "t", "image_uri": "/nowhere.png"}], rng.normal(size=(1, served.dim)), other)
    with pytest.raises(ModelMismatchError) as refused:
        CatalogSearch(triton, store).search(Query(text="shirt"))
    assert "someone-elses-clip" in str(refused.value) and served.id in str(refused.value)


def test_searches_at_once_through_one_store_each_get_their_own_hits(demo_store, triton):
    from concurrent.futures import ThreadPoolExecutor

    model = triton.embedding_model()
    vectors = [vector for vector in np.random.default_rng(3).normal(size=(24, model.dim)).astype(np.float32)]
    alone = [[hit.id for hit in demo_store.search(vector, model, top_k=5)] for vector in vectors]
    calls = []
    search_all = demo_store.client.search
    demo_store.client.search = lambda *args, **kwargs: calls.append(len(args[1])) or search_all(*args, **kwargs)
    try:
        with ThreadPoolExecutor(12) as pool:
            together = list(pool.map(lambda vector: [hit.id for hit in demo_store.search(vector, model, top_k=5)],
                                     vectors))
    finally:
        del demo_store.client.search
    assert together == alone
    assert max(calls) > 1 and len(calls) < len(vectors), f"Milvus calls, vectors in each: {calls}"


def test_products_are_found_by_words_of_their_title_brand_or_id_whatever_the_case(demo_store):
    from atelier.catalog_store import build_filter

    rows = demo_store.all_rows(["id", "title", "brand"])
    brand = rows[0]["brand"]
    for typed, wanted in (("Shorts", lambda r: "shorts" in r["title"].lower()),
                          (brand.lower(), lambda r: r["brand"] == brand),
                          (rows[7]["id"], lambda r: r["id"] == rows[7]["id"])):
        found = {hit.id for hit in demo_store.browse(build_filter(text=typed), limit=1000)}
        assert found and found == {r["id"] for r in rows if wanted(r)}, typed
    assert demo_store.browse(build_filter(text='100%_"x\\'), limit=10) == []  # like's wildcards and quotes, literal
