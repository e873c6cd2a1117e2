"""Widgets shared by several pages."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import streamlit as st

from atelier.catalog_store import Hit
from atelier.config import AtelierError


def product_card(hit: Hit) -> None:
    """A catalog product: image, title, attributes, similarity score."""
    fields = hit.fields
    st.image(fields["image_uri"], width="stretch")
    st.markdown(f"**{fields['title']}**")
    st.caption(f"{fields['category']} · {fields['color']} · {fields['pattern']} · "
               f"{fields['brand']} · {fields['price']:.2f}")
    st.caption(f"score {hit.score:.3f} · {hit.id}")


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
