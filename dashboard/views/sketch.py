"""Sketch: draw a garment (or upload a drawing), add a few words if you like, and find catalog items.

The drawing is preprocessed (atelier.sketch.preprocess_sketch: cropped to the ink, centred, stroke
width normalised) so a small doodle in a corner of the pad looks like a product photo's framing,
then embedded by clip_image and, with words, fused with clip_text (docs/sketch.md has the figures).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from atelier.config import AtelierError
from atelier.images import decode_image, png_bytes
from atelier.search import Query
from atelier.sketch import PAD, WORDS_WEIGHT, preprocess_sketch
from dashboard import services
from dashboard.components import literal, product_grid


def drawing() -> Image.Image | None:
    """The uploaded drawing, else the pad's strokes over white paper (None when the pad is blank)."""
    from streamlit_drawable_canvas import st_canvas  # only importable under `streamlit run`

    pad, upload_column = st.columns([3, 2])
    with upload_column:
        stroke = st.slider("Pen width", 1, 30, 4, key="pen")
        upload = st.file_uploader("…or upload a drawing", type=["png", "jpg", "jpeg", "webp"], key="sketch-upload")
    with pad:
        canvas = st_canvas(stroke_width=stroke, stroke_color="#111111", background_color="#ffffff", width=PAD,
                           height=PAD, drawing_mode="freedraw", return_image_data=True, key="sketch-pad")
    if upload is not None:
        try:
            return decode_image(upload.getvalue(), upload.name)
        except ValueError as error:
            st.error(literal(error))
            return None
    strokes = canvas.image_data
    if strokes is None or not (strokes[..., 3] > 0).any():
        return None
    paper = Image.new("RGBA", (strokes.shape[1], strokes.shape[0]), "white")
    return Image.alpha_composite(paper, Image.fromarray(np.ascontiguousarray(strokes), "RGBA")).convert("RGB")


st.title("Sketch")
st.write("Draw a garment with the mouse or a stylus, and add a few words if you like.")
sketch = drawing()
words = st.text_input("A few words (optional)", placeholder="with puff sleeves", key="sketch-words")
text_weight = 0.0
if words.strip():
    text_weight = st.slider("How much the words count", 0.0, 1.0, WORDS_WEIGHT, 0.05, key="words-weight",
                            help="0: the drawing only; 1: the words only")

try:
    prepared = preprocess_sketch(sketch) if sketch is not None else None
except ValueError:
    prepared = None
if prepared is None:
    st.info("Draw on the pad (or upload a drawing) to see matching products.")
    st.stop()

preview, results = st.columns([1, 5])
preview.image(prepared, caption="What the search sees", width="stretch")
try:
    hits = services.catalog_search().search(Query(text=words, image=png_bytes(prepared),
                                                  image_weight=1.0 - text_weight, top_k=10))
except AtelierError as error:
    results.error(str(error))
    st.stop()
with results:
    product_grid(hits)
