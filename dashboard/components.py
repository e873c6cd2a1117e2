"""Widgets shared by several pages."""

from __future__ import annotations

import streamlit as st

from atelier.catalog_store import Hit


def product_card(hit: Hit) -> None:
    """A catalog product: image, title, attributes, similarity score."""
    fields = hit.fields
    st.image(fields["image_uri"], width="stretch")
    st.markdown(f"**{fields['title']}**")
    st.caption(f"{fields['category']} · {fields['color']} · {fields['pattern']} · "
               f"{fields['brand']} · {fields['price']:.2f}")
    st.caption(f"score {hit.score:.3f} · {hit.id}")
