"""System: the Triton models and their readiness, and the catalog collection in Milvus."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from atelier.config import AtelierError
from atelier.diffusion.exported import NO_RECORD
from atelier.families import PIPELINES
from dashboard import services
from dashboard.components import literal, training_status

st.title("System")
settings = services.settings()
triton_column, milvus_column = st.columns(2)

with triton_column:
    st.subheader("Triton")
    st.caption(f"gRPC {settings.triton_url}")
    try:
        models = services.triton().models(settings.model_repository)
        ready = sum(model["state"] == "READY" for model in models)
        st.metric("Models ready", f"{ready} / {len(models)}")
        st.dataframe(pd.DataFrame(models), hide_index=True, width="stretch")
        st.markdown("**Weights of the generation models**")
        weights = {kind: services.generation_weights(kind) for kind in PIPELINES}
        st.dataframe(pd.DataFrame([{"model": kind, "weights": w.text if w else NO_RECORD,
                                    "learned": "yes" if w and w.learned else "no: its images are noise"}
                                   for kind, w in weights.items()]), hide_index=True, width="stretch")
        if (training := services.generator_training()) is not None:
            training_status(training)
        st.caption(f"Embedding model served: {services.triton().embedding_model()}")
    except AtelierError as error:
        st.error(literal(error))

with milvus_column:
    st.subheader("Milvus")
    st.caption(f"{settings.milvus_uri} · collection {settings.collection}")
    try:
        stats = services.store().stats()
        st.metric("Products", stats["rows"])
        model = stats["embedding_model"]
        st.caption(f"Filled by embedding model {literal(model['id'])} (dim {model['dim']}, weights "
                   f"{model['weights_sha256'][:12]}…)" if model else "Not created yet: ingest a catalog.")
        if index := stats.get("index"):
            st.dataframe(pd.DataFrame([{"index": index["index_type"], "metric": index["metric_type"],
                                        "links (M)": index["M"], "search breadth (ef)": index["search_ef"],
                                        "indexed rows": index["indexed_rows"], "state": index["state"]}]),
                         hide_index=True, width="stretch")
            st.caption("The search breadth is chosen for the collection's size by measurement (recall@10 >= 0.99 "
                       "against exact search): docs/benchmarks.md.")
    except AtelierError as error:
        st.error(literal(error))
