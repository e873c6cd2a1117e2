from __future__ import annotations

import pytest

from atelier.config import AtelierError, Settings
from atelier.model_repository import missing_exports
from cli.main import main
from cli.search import parse_filters
from tests.conftest import copy_repository


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path))
    monkeypatch.setenv("ATELIER_TRITON_URL", "triton:9001")
    monkeypatch.delenv("ATELIER_MILVUS_URI", raising=False)
    settings = Settings()
    assert settings.triton_url == "triton:9001"
    assert settings.milvus_uri == str(tmp_path / "milvus" / "catalog.db")


def test_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("ATELIER_PROFILE", "huge")
    with pytest.raises(AtelierError, match="ATELIER_PROFILE must be one of"):
        Settings()


def test_filter_flags_group_values_by_field():
    assert parse_filters(["color=red", "color=navy", "category=tops"]) == {
        "color": ["red", "navy"], "category": ["tops"]}
    with pytest.raises(AtelierError, match="field=value"):
        parse_filters(["color"])


def test_missing_exports_lists_every_unexported_model(tmp_path):
    repository = copy_repository(tmp_path / "repo")
    every_model = sorted(config.parent.name for config in repository.glob("*/config.pbtxt"))
    assert "txt2img" in every_model and "sdxl_unet" in every_model
    assert missing_exports(repository) == every_model


def test_cli_reports_errors_without_traceback(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ATELIER_TRITON_URL", "localhost:1")
    monkeypatch.setenv("ATELIER_MILVUS_URI", str(tmp_path / "m.db"))
    assert main(["search"]) == 1
    assert "give a text, an image, or both" in capsys.readouterr().err
