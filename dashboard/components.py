"""Widgets shared by several pages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import streamlit as st

from atelier.catalog_store import Hit
from atelier.config import AtelierError
from atelier.diffusion.exported import NO_RECORD
from atelier.families import FAMILIES
from atelier.labels import TRUSTED_ACCURACY
from atelier.profiles import NO_LEAN, Lean, explain, load_profile_with_taste, profile_names
from atelier.search import Query
from atelier.training_progress import TrainingProgress
from dashboard import services

COLUMNS = 5
# The characters that make Streamlit's Markdown fetch, link, format or hide text: links and images, bare URLs'
# colons, HTML and entities, emphasis, code, headings, tables, LaTeX and its :colour[...] directives. List
# markers are left: they can only restyle a line.
MARKDOWN_SIGNIFICANT = re.compile(r"([\\`*_{}\[\]()#!|<>~$&:])")
LABELS = ("sleeve", "neckline", "occasion", "style")  # zero-shot labels the catalog's own columns lack


def literal(text: object) -> str:
    """`text` that did not come from the project (titles, brands, posts, hashtags, conversation text, error
    messages quoting them) escaped for Streamlit's Markdown, so it shows as typed: an image link in a crawled
    title would otherwise make every viewer's browser fetch it."""
    return MARKDOWN_SIGNIFICANT.sub(r"\\\1", str(text))


def product_image(uri: str, caption: str | None = None) -> None:
    """A stored product or post image, fetched by the server (the browser never loads a URL a catalog chose)."""
    data = services.stored_image(uri)
    if isinstance(data, str):
        st.caption(literal(f"no image: {data}"))
    else:
        st.image(data, caption=caption, width="stretch")


def shown_labels() -> tuple[str, ...]:
    """The LABELS the served model is measured to read (atelier.labels.trusted_attributes)."""
    trusted = services.trusted_labels()
    return tuple(name for name in LABELS if name in trusted)


def product_card(hit: Hit, scored: bool = True) -> None:
    """A catalog product: image, title, attributes, and its similarity score where it answers a search."""
    fields = hit.fields
    product_image(fields["image_uri"])
    st.markdown(f"**{literal(fields['title'])}**")
    st.caption(" · ".join(literal(fields[name]) for name in ("category", "color", "pattern", "brand"))
               + f" · {fields['price']:.2f}")
    labels = [f"{name} {literal(fields[f'label_{name}'])}" for name in shown_labels()
              if fields.get(f"label_{name}") not in (None, "", "unknown")]
    if labels:
        st.caption("labels: " + " · ".join(labels))
    st.caption(f"score {hit.score:.3f} · {literal(hit.id)}" if scored else literal(hit.id))


def product_grid(hits: list[Hit], columns: int = COLUMNS, scored: bool = True,
                 actions: Callable[[Hit], None] | None = None) -> None:
    """Product cards in rows of `columns`; `scored=False` for a listing that answers no search (browsing);
    `actions` draws a card's buttons under it."""
    for start in range(0, len(hits), columns):
        for column, hit in zip(st.columns(columns), hits[start : start + columns]):
            with column, st.container(border=True):
                product_card(hit, scored)
                if actions is not None:
                    actions(hit)


def label_filters(values: dict[str, list[str]], key: str) -> dict[str, list[str]]:
    """Multiselects for the zero-shot fashion labels (atelier/labels.py) the served model is measured to read."""
    shown = shown_labels()
    with st.expander("Fashion labels (zero-shot)"):
        chosen = {f"label_{name}": st.multiselect(name.capitalize(), values.get(f"label_{name}", []),
                                                  key=f"{key}-label-{name}") for name in shown}
        if hidden := [name for name in LABELS if name not in shown]:
            st.caption(f"Not offered: {', '.join(hidden)}. The served model's accuracy on them is unmeasured or "
                       f"below {TRUSTED_ACCURACY:.0%} (`atelier eval labels`).")
    return {name: value for name, value in chosen.items() if value}


def _pick(pick_key: str, fields: dict[str, Any]) -> None:
    st.session_state[pick_key] = fields


def catalog_picker(label: str, key: str, button: str, pick_key: str, columns: int = 6) -> None:
    """A catalog search by text; each of the six results (image, title, price) has `button`, which puts that
    product's fields in st.session_state[pick_key] for take_pick (other pages send products there too)."""
    text = st.text_input(label, placeholder="a red striped shirt", key=key)
    if not text.strip():
        return
    try:
        hits = services.catalog_search().search(Query(text=text, top_k=6))
    except AtelierError as error:
        st.error(literal(error))
        return
    grid = st.columns(columns)
    for index, hit in enumerate(hits):
        with grid[index % columns]:
            product_image(hit.fields["image_uri"])
            st.caption(f"{literal(hit.fields['title'])} · {hit.fields['price']:.2f}")
            st.button(button, key=f"{key}-{hit.id}", width="stretch", on_click=_pick, args=(pick_key, hit.fields))


def take_pick(pick_key: str) -> tuple[dict[str, Any], bytes] | None:
    """The product waiting in st.session_state[pick_key] (image_uri, title, ...) with its image, taken once; None
    when there is none, or when its image cannot be loaded (the reason shown on the page)."""
    picked = st.session_state.pop(pick_key, None)
    if not picked:
        return None
    data = services.stored_image(picked["image_uri"])
    if isinstance(data, str):
        st.error(literal(f"cannot load {picked['title']}: {data}"))
        return None
    return picked, data


def closest_products(image_png: bytes, top_k: int = COLUMNS) -> list[Hit]:
    """The catalog products most like an image; a warning and none when the catalog cannot be searched."""
    try:
        return services.catalog_search().search(Query(image=image_png, top_k=top_k))
    except AtelierError as error:  # the image on the page is kept either way
        st.warning(literal(f"No catalog products: {error}"))
        return []


def with_progress(label: str, call: Callable[[], Any]) -> Any:
    """Run a Triton call while a status box counts the seconds (a request cannot report its steps)."""
    started = time.perf_counter()
    with st.status(label, expanded=False) as status, ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        while not future.done():
            status.update(label=f"{label} {time.perf_counter() - started:.0f} s")
            time.sleep(0.25)
        try:
            result = future.result()
        except AtelierError:
            status.update(label=f"{label} failed", state="error")
            raise
        status.update(label=f"Done in {time.perf_counter() - started:.1f} s", state="complete")
    return result


def shopper_lean() -> Lean:
    """Sidebar: a shopper (imported from their order export) and how far results lean towards their history."""
    folder = services.settings().profiles_dir
    names = profile_names(folder)
    if not names:
        return NO_LEAN
    name = st.selectbox("Shopper", ["(nobody)", *names], key="shopper",
                        help="lean results towards a shopper's order history (`atelier shopper import`)")
    if name == "(nobody)":
        return NO_LEAN
    weight = st.slider("Lean towards their history", 0.0, 1.0, 0.3, 0.05, key="history-weight")
    try:
        profile = load_profile_with_taste(folder, name, services.store().embeddings)
    except AtelierError as error:
        st.warning(literal(error))
        return NO_LEAN
    st.caption(literal(explain(profile, weight)))
    return Lean(profile, weight)


def weights_notice(*kinds: str) -> dict[str, str]:
    """One warning above the page naming those of `kinds` whose networks have random weights (their images are
    noise, not designs); returns each kind's weights in words, for the captions under its images."""
    described, random = {}, []
    for kind in kinds:
        weights = services.generation_weights(kind)
        described[kind] = weights.text if weights else NO_RECORD
        if weights is not None and not weights.learned:
            random.append(f"{FAMILIES[kind].title}: {weights.text}")
    training = services.generator_training()
    if random:
        remedy = ("they are being trained now (below), and each is served as soon as it is trained" if training else
                  "export trained or published weights to see real results (README, “Profiles, the full models”)")
        st.warning(f"{'; '.join(random)}. What {'these draw' if len(random) > 1 else 'it draws'} is noise, not a "
                   f"design: {remedy}.", icon=":material/science:")
    if training is not None:
        training_status(training)
    return described


def training_status(training: TrainingProgress) -> None:
    """The generators' background training: a bar over all their steps, what trains now, the time left."""
    st.progress(min(1.0, training.steps_done / sum(training.plan.values())),
                text=f"Tiny generators, trained on the demo catalog while you work: {training.describe()}. "
                     "Reload the page when one is served.")
