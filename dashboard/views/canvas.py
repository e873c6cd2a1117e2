"""Creative Canvas: paint over part of a product, describe the change, see the new design beside the
original (SD inpainting through Triton) and the catalog items most like it."""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from atelier.config import AtelierError
from atelier.images import decode_image, mask_from_strokes, png_bytes
from dashboard import services
from dashboard.components import (
    catalog_picker,
    closest_products,
    literal,
    product_grid,
    take_pick,
    weights_notice,
    with_progress,
)

CANVAS_SIDE = 448  # the longer side of the canvas on screen; the mask is scaled to the product image
QUALITY = "product photo, studio lighting, plain background, sharp focus, high detail"
NEGATIVE = "blurry, low quality, deformed, text, watermark, extra limbs"


def push_base(image: bytes, label: str) -> None:
    st.session_state.canvas_bases.append({"image": image, "label": label})
    st.session_state.pop("canvas_result", None)


def pick_base() -> None:
    """A product from this page's search, or one sent here by "Edit on canvas" elsewhere."""
    if picked := take_pick("canvas_pick"):
        fields, data = picked
        push_base(data, fields["title"])
    with st.expander("Choose a base product", expanded=not st.session_state.canvas_bases):
        catalog_picker("Find a product", "canvas-search", "Use as base", "canvas_pick")


def display_size(size: tuple[int, int]) -> tuple[int, int]:
    scale = CANVAS_SIDE / max(size)
    return round(size[0] * scale), round(size[1] * scale)


def repaint(base: dict, strokes, prompt: str, quality: str, negative: str, steps: int) -> None:
    image = decode_image(base["image"])
    try:
        mask = mask_from_strokes(strokes if strokes is not None else np.zeros((1, 1, 4), np.uint8), image.size)
    except ValueError as error:
        st.error(literal(error))
        return
    full_prompt = ", ".join(part for part in (prompt.strip(), quality.strip()) if part)
    try:
        result, seed = with_progress("Repainting…", lambda: services.triton().generate(
            "inpaint", image=base["image"], mask=png_bytes(mask), prompt=full_prompt,
            negative_prompt=negative or None, steps=steps))
    except AtelierError as error:
        st.error(literal(error))
        return
    data = png_bytes(result)
    st.session_state.canvas_result = {"image": data, "seed": seed, "prompt": full_prompt,
                                      "products": closest_products(data)}


st.title("Creative Canvas")
weights = weights_notice("inpaint")
st.session_state.setdefault("canvas_bases", [])
pick_base()
bases = st.session_state.canvas_bases
if not bases:
    st.info("Choose a base product, paint over the part to change, and describe the change.")
    st.stop()

from streamlit_drawable_canvas import st_canvas  # noqa: E402  (only importable under `streamlit run`)

base = bases[-1]
base_image = decode_image(base["image"])  # upright, as the model will read it: the mask is painted on this
width, height = display_size(base_image.size)
paint, controls = st.columns([3, 2])
with controls:
    brush = st.slider("Brush size", 4, 80, 28, key="brush")
    prompt = st.text_input("Describe the change", placeholder="embroider a golden dragon here", key="change")
    quality = st.text_input("Quality keywords (added to the prompt)", QUALITY, key="quality")
    negative = st.text_input("Negative prompt", NEGATIVE, key="negative")
    steps = st.slider("Steps", 1, 100, 20, key="canvas-steps")
    if prompt.strip():
        st.caption(literal(f"Sent to the model: {', '.join(p for p in (prompt.strip(), quality.strip()) if p)}"))
with paint:
    st.caption("Paint over what should change")  # short: the canvas's toolbar floats over this line's right end
    # scaled here with Lanczos: the browser's own stretch of a small product photo is blurry
    shown = base_image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    canvas = st_canvas(background_image=shown, stroke_width=brush, stroke_color="rgba(255, 64, 129, 0.55)",
                       width=width, height=height, drawing_mode="freedraw", return_image_data=True,
                       key=f"canvas-{len(bases)}")
    st.caption(f"Base: {literal(base['label'])} · {base_image.width}x{base_image.height}")
with controls:
    if st.button("Repaint", type="primary", width="stretch"):
        repaint(base, canvas.image_data, prompt, quality, negative, steps)
    if len(bases) > 1:
        st.button("Undo: back to the previous base", width="stretch",
                  on_click=lambda: (bases.pop(), st.session_state.pop("canvas_result", None)))

result = st.session_state.get("canvas_result")
if result:
    original, new = st.columns(2)
    original.image(base["image"], caption="Original", width="stretch")
    new.image(result["image"], caption=f"New design · seed {result['seed']} · {weights['inpaint']}",
              width="stretch")
    left, right = st.columns(2)
    left.download_button("Download result", result["image"], file_name=f"canvas-seed{result['seed']}.png",
                         mime="image/png", width="stretch")
    right.button("Use this result as the new base", width="stretch", on_click=push_base,
                 args=(result["image"], f"edit of {base['label']}: {result['prompt'][:40]}"))
    if result["products"]:
        st.subheader("Catalog items like the new design")
        product_grid(result["products"])
