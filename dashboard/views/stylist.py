"""Stylist: chat your way to an outfit. Each answer shows the image and the catalog products that go with it.

The open conversation and profile live in the URL (?profile=...&conversation=...), so a reload
reopens them; every conversation is kept per profile in the stylist's SQLite file.
"""

from __future__ import annotations

import streamlit as st

from atelier.catalog_store import Hit
from atelier.config import AtelierError
from atelier.stylist.prompts import without_trend_terms
from atelier.text_input import MAX_CHARS
from dashboard import services
from dashboard.components import literal, product_grid, shopper_lean, weights_notice, with_progress

DEFAULT_PROFILE = "merchandiser"


def open_conversation(profile: str, conversation_id: str | None) -> None:
    st.query_params.clear()
    st.query_params["profile"] = profile
    if conversation_id:
        st.query_params["conversation"] = conversation_id


def drop_filter(conversation_id: str, name: str, lean) -> None:
    try:
        services.stylist().drop_filter(conversation_id, name, lean)
    except AtelierError as error:
        st.error(literal(error))


def redraw(conversation_id: str, prompt: str, lean) -> None:
    try:
        with_progress("Drawing…", lambda: services.stylist().redraw(conversation_id, prompt, lean))
    except AtelierError as error:
        st.error(literal(error))


def redraw_edited(conversation_id: str, key: str, lean) -> None:
    redraw(conversation_id, st.session_state[key], lean)  # read here: with_progress calls from another thread


def show_message(message, editable: bool) -> None:
    """One turn; `editable`: the newest drawn look, whose prompt the user may change and draw again."""
    with st.chat_message(message.role):
        st.markdown(literal(message.text))
        if message.image is not None:
            st.image(message.image, width=360, caption=literal(weights["edit" if message.intent == "edit" else
                                                                     "txt2img"]))
        if message.prompt and message.intent == "new_outfit":
            st.caption(f"Prompt: {literal(message.prompt)}")
        if editable:
            if (plain := without_trend_terms(message.prompt)) != message.prompt:
                st.button("Draw it again without the trend terms", on_click=redraw, args=(conversation, plain, lean),
                          icon=":material/close:")
            with st.expander("Edit the prompt and draw again"):
                key = f"prompt-{message.id}"
                st.text_area("Prompt", message.prompt, key=key, max_chars=MAX_CHARS,
                             help="drawn exactly as written: no trend terms are added")
                st.button("Draw this prompt", on_click=redraw_edited, args=(conversation, key, lean),
                          icon=":material/brush:")
        product_grid([Hit(p["id"], p["score"], p["fields"]) for p in message.products])


history = services.stylist().history
profile = st.query_params.get("profile", DEFAULT_PROFILE)
conversation = st.query_params.get("conversation")
if conversation and history.profile_of(conversation) != profile:
    conversation = None  # a stale or foreign link: start a fresh one

with st.sidebar:
    chosen = st.text_input("Profile", value=profile, key="stylist-profile").strip() or DEFAULT_PROFILE
    if chosen != profile:
        open_conversation(chosen, None)
        st.rerun()
    st.button("New conversation", on_click=open_conversation, args=(profile, None), width="stretch",
              icon=":material/add:")
    lean = shopper_lean()
    past = history.conversations(profile)
    if past:
        st.caption("Conversations")
    for item in past:
        st.button(literal(item["title"]), key=f"conversation-{item['id']}", on_click=open_conversation,
                  args=(profile, item["id"]), width="stretch", type="primary" if item["id"] == conversation else
                  "secondary")

st.title("Stylist")
weights = weights_notice("txt2img", "edit")
messages = history.messages(conversation) if conversation else []
if not messages:
    st.info("Describe an outfit (“a breezy linen outfit for a beach wedding”), then change it (“make the shirt "
            "sage green”), filter the products (“only show tops under 60”), or go back (“back to the first one”).")
newest_drawn = next((m.id for m in reversed(messages) if m.prompt and m.intent == "new_outfit"), None)
for message in messages:
    show_message(message, message.id == newest_drawn)

filters = history.state(conversation)["filters"] if conversation else {}
if filters:  # what narrows the products, each dropped with a click
    chips = st.columns([2] + [1] * len(filters) + [max(1, 6 - len(filters))])
    chips[0].caption("Products filtered to")
    for column, (name, value) in zip(chips[1:], filters.items()):
        column.button(literal(f"{name.replace('_', ' ')}: {value}"), key=f"drop-{name}", icon=":material/close:",
                      help="drop this filter", on_click=drop_filter, args=(conversation, name, lean))

text = st.chat_input("Describe an outfit, ask for a change, filter the products…", max_chars=MAX_CHARS)
if text:
    if not conversation:
        conversation = history.create(profile, text)
        open_conversation(profile, conversation)
    with st.chat_message("user"):
        st.markdown(literal(text))
    with st.chat_message("assistant"):
        try:
            with_progress("Styling…", lambda: services.stylist().respond(conversation, text, lean))
        except AtelierError as error:
            st.error(literal(error))
        else:
            st.rerun()
