"""The dashboard in Streamlit's AppTest, on the test services, for the page tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def open_dashboard(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], page: str | None = None,
                   timeout: float = 180) -> AppTest:
    """The dashboard with `env` set (the optional LLM off) and the cached clients cleared, on views/`page`."""
    import streamlit as st

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ATELIER_LLM_URL", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    app = AppTest.from_file(str(APP), default_timeout=timeout)
    app.run()
    if page:
        app.switch_page(page).run()
    return app
