"""Try-On: a catalog garment (or an uploaded one) on a person photo, CatVTON through Triton's `tryon` model.

The merchandiser picks a person (a sample model or an upload), a garment (a search on the page,
"Try on" from Discover, or an upload), says whether it is worn on the upper body, the lower body
or both, paints the area it should cover, and sees the person wearing it.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from atelier.config import AtelierError
from atelier.diffusion.inputs import GARMENT_TYPES, NO_MASK
from atelier.images import decode_image, mask_from_strokes, png_bytes
from dashboard import services
from dashboard.components import catalog_picker, literal, take_pick, weights_notice, with_progress

CANVAS_SIDE = 448  # the longer side of the canvas on screen; the mask is scaled to the photo
WORN_ON = {"upper": "Upper body", "lower": "Lower body", "overall": "Full body (dresses, jumpsuits)"}
TYPE_OF_CATEGORY = {"tops": "upper", "outerwear": "upper", "bottoms": "lower", "dresses": "overall"}


def uploaded_image(upload: UploadedFile | None, what: str) -> bytes | None:
    if upload is None:
        return None
    try:
        decode_image(upload.getvalue(), what)
    except ValueError as error:
        st.error(literal(f"{upload.name}: {error}"))
        return None
    return upload.getvalue()


def choose_person() -> tuple[bytes, str] | None:
    st.subheader("1. Person")
    upload = uploaded_image(st.file_uploader("Upload a photo of a person", type=["png", "jpg", "jpeg", "webp"],
                                             key="tryon-person-upload"), "person")
    if upload is not None:
        return upload, "uploaded photo"
    samples = services.sample_people()
    names = [path.stem for path in samples]
    name = st.radio("…or pick a sample model", names, horizontal=True, key="tryon-sample")
    return samples[names.index(name)].read_bytes(), f"sample model {name}"


def choose_garment() -> dict | None:
    """{"image": bytes, "title": str, "category": str | None}, from an upload, this page's search or Discover."""
    st.subheader("2. Garment")
    if picked := take_pick("tryon_garment_pick"):
        fields, data = picked
        st.session_state.tryon_garment = {"image": data, "title": fields["title"], "category": fields["category"]}
    upload = uploaded_image(st.file_uploader("Upload a garment photo", type=["png", "jpg", "jpeg", "webp"],
                                             key="tryon-garment-upload"), "garment")
    if upload is not None:
        return {"image": upload, "title": "uploaded garment", "category": None}
    catalog_picker("…or find one in the catalog", "tryon-search", "Use this garment", "tryon_garment_pick", columns=3)
    return st.session_state.get("tryon_garment")


def display_size(size: tuple[int, int]) -> tuple[int, int]:
    scale = CANVAS_SIDE / max(size)
    return round(size[0] * scale), round(size[1] * scale)


def try_on(person: bytes, garment: dict, strokes: np.ndarray | None, garment_type: str, steps: int, guidance: float,
           seed: int | None) -> None:
    size = decode_image(person).size
    try:
        mask = png_bytes(mask_from_strokes(strokes if strokes is not None else np.zeros((1, 1, 4), np.uint8), size))
    except ValueError:
        mask = None  # nothing painted: the server derives the mask where it has a human parser, or asks for one
    try:
        result, used_seed = with_progress("Dressing…", lambda: services.triton().generate(
            "tryon", person=person, garment=garment["image"], mask=mask, garment_type=garment_type,
            steps=steps, guidance_scale=guidance, seed=seed))
    except AtelierError as error:
        if mask is None and NO_MASK in str(error):
            st.warning("Paint over the clothes the garment should replace (the pink brush, on the photo), then press "
                       "Try on. This server does not find the clothes by itself: it has no human-parsing model.")
        else:
            st.error(literal(error))
        return
    st.session_state.tryon_result = {"image": png_bytes(result), "seed": used_seed, "person": person,
                                     "garment": garment["title"]}


st.title("Virtual Try-On")
weights = weights_notice("tryon")
person_column, garment_column = st.columns(2)
with person_column:
    person = choose_person()
with garment_column:
    garment = choose_garment()
    if garment:
        st.image(garment["image"], caption=f"Garment: {literal(garment['title'])}", width=160)
if not garment:
    st.info("Choose a garment from the catalog or upload one, then paint where it goes on the person.")
    st.stop()

from streamlit_drawable_canvas import st_canvas  # noqa: E402  (only importable under `streamlit run`)

st.subheader("3. Where it goes")
person_bytes, person_label = person
person_image = decode_image(person_bytes)  # upright, as the model will read it: the mask is painted on this
paint, controls = st.columns([3, 2])
with controls:
    default_type = TYPE_OF_CATEGORY.get(garment["category"] or "", "upper")
    garment_type = st.radio("The garment is worn on the", GARMENT_TYPES, format_func=WORN_ON.get,
                            index=GARMENT_TYPES.index(default_type), key=f"tryon-type-{garment['title']}")
    brush = st.slider("Brush size", 4, 80, 36, key="tryon-brush")
    with st.expander("Generation settings"):
        steps = st.slider("Steps", 1, 100, 20, key="tryon-steps")
        guidance = st.slider("Guidance (how strongly the garment is followed)", 0.0, 10.0, 2.5, 0.5,
                             key="tryon-guidance")
        seed = st.number_input("Seed (empty: random)", min_value=0, value=None, step=1, key="tryon-seed")
with paint:
    st.caption(f"{person_label} · {person_image.width}x{person_image.height} · paint over the clothes to replace "
               "(optional where a human parser is installed)")
    width, height = display_size(person_image.size)
    canvas = st_canvas(background_image=person_image, stroke_width=brush, stroke_color="rgba(255, 64, 129, 0.55)",
                       width=width, height=height, drawing_mode="freedraw", return_image_data=True,
                       key=f"tryon-canvas-{person_label}")
with controls:
    if st.button("Try on", type="primary", width="stretch"):
        try_on(person_bytes, garment, canvas.image_data, garment_type, steps, guidance,
               None if seed is None else int(seed))

result = st.session_state.get("tryon_result")
if result and result["person"] == person_bytes:
    before, after = st.columns(2)
    before.image(result["person"], caption="Person", width="stretch")
    after.image(result["image"], caption=f"Wearing {result['garment']} · seed {result['seed']} · {weights['tryon']}",
                width="stretch")
    st.download_button("Download result", result["image"], file_name=f"tryon-seed{result['seed']}.png",
                       mime="image/png")
