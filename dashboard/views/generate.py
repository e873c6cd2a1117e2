"""Generate: a prompt becomes an outfit image (txt2img), instructions edit it (edit), and after each
step the five closest catalog products are shown. Every version stays in the session's history."""

from __future__ import annotations

import time

import streamlit as st

from atelier.config import AtelierError
from atelier.families import MODEL_PROFILES
from atelier.images import png_bytes
from dashboard import services
from dashboard.components import closest_products, literal, product_grid, weights_notice, with_progress


def add_look(model: str, label: str, values: dict) -> None:
    """`label`: Markdown, the user's words in it escaped (components.literal)."""
    started = time.perf_counter()
    image, seed = with_progress("Generating…" if model == "txt2img" else "Editing…",
                                lambda: services.triton().generate(model, **values))
    data = png_bytes(image)
    st.session_state.looks.append({"image": data, "seed": seed, "label": label, "size": image.shape[1::-1],
                                   "seconds": time.perf_counter() - started, "weights": weights[model],
                                   "products": closest_products(data)})


def seed_input(key: str) -> int | None:
    seed = st.number_input("Seed", 0, 2**31 - 1, value=None, step=1, placeholder="random", key=f"{key}-seed",
                           help="the same seed and settings give the same image; empty draws one")
    return None if seed is None else int(seed)


def generate_form() -> None:
    defaults = services.generation_defaults("txt2img")
    native = defaults["width"]  # what the served txt2img draws (the side it was trained at), offered first
    sizes = sorted({native, *MODEL_PROFILES[services.settings().profile].image_sides})
    first = sizes.index(native)
    with st.form("generate"):
        prompt = st.text_area("Prompt", placeholder="a breezy linen outfit for a beach wedding", key="prompt")
        negative = st.text_input("Negative prompt", placeholder="blurry, low quality", key="negative-prompt")
        left, right = st.columns(2)
        steps = left.slider("Steps", 1, 100, 20, key="steps")
        guidance = right.slider("Guidance", 0.0, 20.0, float(defaults["guidance_scale"]), 0.5, key="guidance",
                                help="how closely the image follows the prompt")
        width = left.selectbox("Width", sizes, index=first, key="width")
        height = right.selectbox("Height", sizes, index=first, key="height")
        seed = seed_input("generate")
        if st.form_submit_button("Generate", type="primary", width="stretch"):
            try:
                add_look("txt2img", f"“{literal(prompt.strip())}”", {
                    "prompt": prompt, "negative_prompt": negative or None, "steps": steps,
                    "guidance_scale": guidance, "width": width, "height": height, "seed": seed})
            except AtelierError as error:
                st.error(literal(error))


def edit_form(look: dict) -> None:
    defaults = services.generation_defaults("edit")
    with st.form("edit"):
        st.markdown("**Edit this image**")
        instruction = st.text_input("Instruction", placeholder="make the jacket denim", key="instruction")
        left, right = st.columns(2)
        steps = left.slider("Steps", 1, 100, 20, key="edit-steps")
        guidance = right.slider("Text guidance", 0.0, 20.0, float(defaults["guidance_scale"]), 0.5,
                                key="edit-guidance")
        image_guidance = left.slider("Image guidance", 0.0, 5.0, float(defaults["image_guidance_scale"]), 0.1,
                                     key="image-guidance",
                                     help="higher keeps more of the current image")
        with right:
            seed = seed_input("edit")
        if st.form_submit_button("Apply edit", width="stretch"):
            try:
                add_look("edit", f"edit: “{literal(instruction.strip())}”", {
                    "image": look["image"], "instruction": instruction, "steps": steps,
                    "guidance_scale": guidance, "image_guidance_scale": image_guidance, "seed": seed})
            except AtelierError as error:
                st.error(literal(error))


def show_look(look: dict, number: int) -> None:
    st.image(look["image"], width="stretch")
    width, height = look["size"]
    st.caption(f"Version {number} · {look['label']} · seed {look['seed']} · {width}x{height} · "
               f"{look['seconds']:.1f} s · {literal(look['weights'])}")
    st.download_button("Download PNG", look["image"], file_name=f"atelier-{number}-seed{look['seed']}.png",
                       mime="image/png", key="download", width="stretch")


def earlier_version(look: dict, number: int) -> None:
    """A version from the history: its image, its download, and a button that makes it the current one again."""
    st.image(look["image"], caption=f"{number}: {look['label']} · seed {look['seed']}", width="stretch")
    st.download_button("Download", look["image"], file_name=f"atelier-{number}-seed{look['seed']}.png",
                       mime="image/png", key=f"download-{number}", width="stretch")
    st.button("Restore", key=f"restore-{number}", on_click=restore, args=(number,), width="stretch",
              help="continue from this version: it becomes the newest, and edits apply to it")


def restore(number: int) -> None:
    looks = st.session_state.looks
    looks.append({**looks[number - 1], "label": f"version {number} restored"})


def show_products(hits: list) -> None:
    st.subheader("Closest catalog products")
    product_grid(hits)


st.title("Generate")
weights = weights_notice("txt2img", "edit")
st.session_state.setdefault("looks", [])
controls, result = st.columns([2, 3])
with controls:
    generate_form()
looks = st.session_state.looks
if looks:
    with controls:
        edit_form(looks[-1])
    with result:
        show_look(looks[-1], len(looks))
    if looks[-1]["products"]:
        show_products(looks[-1]["products"])
    if len(looks) > 1:
        with st.expander(f"Earlier versions ({len(looks) - 1})"):
            earlier = list(enumerate(looks[:-1], 1))[-6:]
            for column, (number, look) in zip(st.columns(len(earlier)), earlier):
                with column:
                    earlier_version(look, number)
else:
    with result:
        st.info("Describe an outfit and press Generate. Each image is followed by the closest catalog products.")
