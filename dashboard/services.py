"""Clients shared by every page and session, built once from the environment (see atelier.config)."""

from __future__ import annotations

import streamlit as st

from atelier.catalog_store import CatalogStore
from atelier.config import Settings
from atelier.search import CatalogSearch
from atelier.stylist.history import ConversationStore
from atelier.stylist.stylist import Stylist
from atelier.triton_client import TritonClient


@st.cache_resource
def settings() -> Settings:
    return Settings()


@st.cache_resource
def triton() -> TritonClient:
    return TritonClient(settings().triton_url)


@st.cache_resource
def store() -> CatalogStore:
    return CatalogStore(settings().milvus_uri, settings().collection)


def catalog_search() -> CatalogSearch:
    return CatalogSearch(triton(), store())


@st.cache_data(ttl=60, show_spinner=False)
def attribute_values() -> dict[str, list[str]]:
    return store().attribute_values()


@st.cache_resource
def stylist() -> Stylist:
    from atelier.stylist.llm import interpreter_from_env
    from atelier.stylist.prompts import catalog_trends

    trends = catalog_trends(store().rows(["color", "pattern"]))
    return Stylist(triton(), catalog_search(), ConversationStore(settings().stylist_db), interpreter_from_env(), trends)
