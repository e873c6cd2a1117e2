"""The embedded Triton's admin key: from the environment, or made once per home in an owner-only file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from atelier.config import AtelierError, Settings
from atelier.triton_server import admin_key


def test_a_key_is_made_once_per_home_and_only_its_owner_can_read_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ATELIER_TRITON_ADMIN_KEY", raising=False)
    settings = Settings(home=tmp_path / "home", milvus_uri="unused.db")
    key, where = admin_key(settings)
    assert where == str(settings.triton_admin_key_file) and len(key) >= 32
    assert stat.S_IMODE(settings.triton_admin_key_file.stat().st_mode) == 0o600
    assert admin_key(settings) == (key, where)
    settings.triton_admin_key_file.chmod(0o644)
    with pytest.raises(AtelierError, match="chmod 600"):
        admin_key(settings)


def test_the_environment_key_wins_and_must_be_usable_in_a_header(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATELIER_TRITON_ADMIN_KEY", "k" * 20)
    settings = Settings(home=tmp_path, milvus_uri="unused.db")
    assert admin_key(settings) == ("k" * 20, "$ATELIER_TRITON_ADMIN_KEY")
    assert not settings.triton_admin_key_file.exists()
    assert "k" * 20 not in repr(settings)
    monkeypatch.setenv("ATELIER_TRITON_ADMIN_KEY", "short key")
    with pytest.raises(AtelierError, match="at least 16"):
        admin_key(Settings(home=tmp_path, milvus_uri="unused.db"))
