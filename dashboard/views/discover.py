"""Discover: catalog search by text, by image, or both with a weighting slider, plus attribute filters."""

from __future__ import annotations

import streamlit as st

from atelier.catalog_store import Hit
from atelier.config import AtelierError
from atelier.images import decode_image
from atelier.profiles import Lean
from atelier.search import Query
from dashboard import services
from dashboard.components import label_filters, literal, product_grid, shopper_lean

FILTERS = ("category", "color", "pattern", "brand")
WEARABLE = ("tops", "bottoms", "dresses", "outerwear")  # what the Try-On page can dress a person in


def use_as_query(hit_id: str, image_uri: str) -> None:
    st.session_state.similar = {"id": hit_id, "image_uri": image_uri}


def query_image(upload) -> tuple[bytes | None, str]:
    """The query image (an upload wins over "find similar") and a label for it."""
    if upload is not None:
        try:
            decode_image(upload.getvalue())
        except ValueError as error:
            st.error(literal(f"{upload.name}: {error}"))
            return None, ""
        return upload.getvalue(), upload.name
    similar = st.session_state.get("similar")
    if similar:
        data = services.stored_image(similar["image_uri"])
        if isinstance(data, bytes):
            return data, f"similar to {similar['id']}"
        st.warning(literal(f"cannot load the image of {similar['id']}: {data}"))
    return None, ""


def filter_widgets() -> tuple[dict[str, list[str]], float | None, float | None, int, Lean]:
    with st.sidebar:
        st.subheader("Filters")
        try:
            values = services.attribute_values()
        except AtelierError as error:
            st.error(literal(error))
            values = {}
        equals = {name: st.multiselect(name.capitalize(), values.get(name, []), key=f"filter-{name}")
                  for name in FILTERS}
        equals.update(label_filters(values, "filter"))
        min_price = st.number_input("Min price", min_value=0.0, value=None, step=5.0, key="min-price")
        max_price = st.number_input("Max price", min_value=0.0, value=None, step=5.0, key="max-price")
        top_k = st.slider("Results", 5, 50, 20, step=5, key="top-k")
        lean = shopper_lean()
    return {k: v for k, v in equals.items() if v}, min_price, max_price, top_k, lean


def product_actions(hit: Hit) -> None:
    """Under each result: search by its image, repaint it on the canvas, or try it on."""
    st.button("Find similar", key=f"similar-{hit.id}", on_click=use_as_query,
              args=(hit.id, hit.fields["image_uri"]), width="stretch")
    if st.button("Edit on canvas", key=f"canvas-{hit.id}", width="stretch"):
        st.session_state.canvas_pick = {"image_uri": hit.fields["image_uri"], "title": hit.fields["title"]}
        st.switch_page("views/canvas.py")
    if hit.fields["category"] in WEARABLE and st.button("Try on", key=f"tryon-{hit.id}", width="stretch"):
        st.session_state.tryon_garment_pick = {key: hit.fields[key] for key in ("image_uri", "title", "category")}
        st.switch_page("views/tryon.py")


def show_results(hits: list[Hit]) -> None:
    st.caption(f"{len(hits)} products")
    product_grid(hits, actions=product_actions)


st.title("Discover")
st.write("Search the catalog by a description, an image, or both.")
text_column, image_column = st.columns([3, 2])
with text_column:
    text = st.text_input("Describe it", placeholder="a red striped shirt", key="query-text")
with image_column:
    upload = st.file_uploader("…or search by image", type=["png", "jpg", "jpeg", "webp"], key="query-image")
image, image_label = query_image(upload)
equals, min_price, max_price, top_k, lean = filter_widgets()

image_weight = 0.5
if image is not None:
    preview, controls = st.columns([1, 4])
    preview.image(image, caption=image_label, width=120)
    if st.session_state.get("similar") and upload is None:
        controls.button("Clear image", on_click=st.session_state.pop, args=("similar", None))
    if text.strip():
        image_weight = controls.slider("Weighting: text ← → image", 0.0, 1.0, 0.5, 0.05, key="image-weight",
                                       help="0 searches by the text only, 1 by the image only")

if text.strip() or image is not None:
    query = Query(text=text, image=image, image_weight=image_weight, equals=equals, min_price=min_price,
                  max_price=max_price, top_k=top_k, profile=lean.profile, history_weight=lean.weight)
    try:
        with st.spinner("Searching…"):
            hits = services.catalog_search().search(query)
    except AtelierError as error:
        st.error(literal(error))
    else:
        if hits:
            show_results(hits)
        else:
            st.info("No products match these filters.")
else:
    st.info("Type a description or upload an image to search.")
