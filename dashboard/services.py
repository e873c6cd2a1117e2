"""Clients shared by every page and session, built once from the environment (see atelier.config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from atelier.catalog_store import CatalogStore
from atelier.config import Settings
from atelier.diffusion.exported import Weights, served_record, served_weights
from atelier.families import MODEL_PROFILES
from atelier.search import CatalogSearch
from atelier.stylist.history import ConversationStore
from atelier.stylist.stylist import Stylist
from atelier.training_progress import TrainingProgress
from atelier.trend_store import TrendStore
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


@st.cache_resource
def trend_store() -> TrendStore:
    return TrendStore(settings().milvus_uri, settings().trends_collection)


def catalog_search() -> CatalogSearch:
    return CatalogSearch(triton(), store())


@st.cache_data(ttl=60, show_spinner=False)
def attribute_values() -> dict[str, list[str]]:
    return store().attribute_values()


@st.cache_data(ttl=60, show_spinner=False)
def trusted_labels() -> tuple[str, ...]:
    """The zero-shot label attributes the served model is measured to read (atelier.labels.trusted_attributes)."""
    from atelier.labels import trusted_attributes

    return trusted_attributes(triton().label_accuracy())


@st.cache_data(max_entries=2048, show_spinner=False)
def stored_image(uri: str) -> bytes | str:
    """The image of a stored product or post, or why it cannot be loaded (ingest.fetch.load_images)."""
    from ingest.fetch import STORED, load_images

    return load_images([uri], STORED, timeout_s=10.0, retries=0)[0]


@st.cache_resource
def stylist() -> Stylist:
    from atelier.stylist.llm import interpreter_from_env
    from atelier.stylist.prompts import catalog_trends

    trends = catalog_trends(store().rows(["color", "pattern"]))
    return Stylist(triton(), catalog_search(), ConversationStore(settings().stylist_db), interpreter_from_env(), trends)


SAMPLE_NAMES = ("Ada", "Bo", "Cleo", "Dev")


@st.cache_resource
def sample_people() -> list[Path]:
    """Sample model photos for the Try-On page, named (Ada.png, ...): people of the synthetic try-on set, drawn once
    into ATELIER_HOME."""
    from training.viton_synthetic import synthetic_pair

    folder = settings().home / "sample-people"
    paths = [folder / f"{name}.png" for name in SAMPLE_NAMES]
    folder.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(paths):
        if not path.exists():
            synthetic_pair(index, (512, 384), seed=0, split="test").person.save(path)
    return paths


def generator_training() -> TrainingProgress | None:
    """The background training of the tiny generators (`atelier up` starts it), while it runs."""
    progress = TrainingProgress.read(settings().generators_dir)
    return progress if progress is not None and progress.running() else None


def generation_defaults(kind: str) -> dict[str, Any]:
    """What the served generation model `kind` uses where a request leaves a setting out: steps, guidance, and
    for txt2img the side its UNet draws (128 for the tiny ones trained here, with their own guidance); the
    profile's defaults where the repository holds no export of it."""
    record = served_record(settings().model_repository, kind)
    return record.defaults if record else MODEL_PROFILES[settings().profile].defaults[kind]


def generation_weights(kind: str) -> Weights | None:
    """Which weights the served generation model `kind` runs (read from the model repository's export record)."""
    return served_weights(settings().model_repository, kind)
