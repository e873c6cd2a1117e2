"""The demo trend export imported through the live Triton into a fresh trends collection in Milvus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from atelier.catalog_store import ModelMismatchError
from atelier.demo_catalog import write_catalog
from atelier.demo_trends import write_trend_export
from atelier.labels import ZeroShotLabeler
from atelier.trend_store import TrendStore
from atelier.triton_client import EmbeddingModel
from ingest.trend_posts import read_trend_posts
from ingest.trends_import import import_trend_posts

pytestmark = pytest.mark.integration


def test_import_counts_rejects_labels_model_and_idempotence(triton, milvus_uri, tmp_path):
    export = write_trend_export(tmp_path / "demo")
    (tmp_path / "demo" / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    broken = {"id": "broken-1", "caption": "#sage", "image": "images/broken.png", "likesCount": 3,
              "timestamp": "2024-05-10T10:00:00Z"}
    with_broken = export.with_name("with_broken.json")
    with_broken.write_text(json.dumps([*json.loads(export.read_text()), broken, {"caption": "no date"}]))
    expected, _ = read_trend_posts(export)
    store = TrendStore(milvus_uri, "trends_store_test")
    progress = []

    report = import_trend_posts(with_broken, triton, store, tmp_path / "rejects.jsonl",
                                progress=lambda done, total: progress.append((done, total)),
                                labeler=ZeroShotLabeler(triton))
    assert (report.rows, report.upserted, report.rejected) == (len(expected) + 2, len(expected), 2)
    assert progress == [(32, 123), (64, 123), (96, 123), (123, 123)]  # the post without a date never loads
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects][0] == "no date"
    assert rejects[1]["row"]["id"] == "broken-1" and "could not be decoded" in rejects[1]["reason"]
    model = triton.embedding_model()
    assert store.recorded_model() == model and report.embedding_model == str(model)
    assert store.count() == report.collection_rows == len(expected)

    posts, embeddings = store.posts()
    assert embeddings.shape == (len(expected), model.dim)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    stored = {post["id"]: post for post in posts}
    for post in expected:
        labels = stored[post["id"]].pop("labels")
        read = {name: value for name, value in post.items() if name != "record"}  # the export's numbering
        assert stored[post["id"]] == read  # dates come back as the same UTC datetimes
        assert {"color", "pattern", "garment", "category", "style"} <= set(labels)
        assert all(isinstance(value, str) and value for value in labels.values())
    assert [post["date"] for post in posts] == sorted(post["date"] for post in posts)

    again = import_trend_posts(export, triton, store, tmp_path / "again.jsonl", progress=False)
    assert (again.upserted, again.rejected, again.collection_rows) == (len(expected), 0, len(expected))
    assert store.count() == len(expected)
    assert "labels" not in store.posts()[0][0]  # imported again without a labeler

    other = EmbeddingModel("another-clip", "0" * 64, model.dim)
    with pytest.raises(ModelMismatchError, match="was filled by embedding model"):
        store.upsert(posts[:1], embeddings[:1], other)
    store.drop()
    assert not store.exists() and store.count() == 0 and store.posts()[0] == []


def test_atelier_trends_demo_imports_the_demo_posts_with_labels(triton_server, milvus_uri, tmp_path) -> None:
    env = {**os.environ, "ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
           "ATELIER_TRENDS_COLLECTION": "trends_cli", "ATELIER_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "cli", "trends", "demo", "--json"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["upserted"] == summary["collection_rows"] == 122 and summary["rejected"] == 0
    posts, _ = TrendStore(milvus_uri, "trends_cli").posts()
    assert all(post["labels"] for post in posts)

    catalog = write_catalog(tmp_path / "catalog", count=6, size=64, progress=False)
    lora = subprocess.run([sys.executable, "-m", "cli", "train", "lora", "--catalog", str(catalog),
                           "--trends-weight", "0.5", "--steps", "2"], env=env, capture_output=True, text=True,
                          timeout=600)  # a LoRA on the catalog and the imported posts
    assert lora.returncode == 0, lora.stderr
    assert Path(lora.stdout.strip()).is_file()


def test_atelier_up_imports_the_demo_posts_once(triton, milvus_uri, tmp_path) -> None:
    from atelier.config import Settings
    from cli.stack import ensure_trends

    store = TrendStore(milvus_uri, "trends_up")
    settings = Settings(home=tmp_path / "home", milvus_uri=milvus_uri)
    ensure_trends(settings, triton, store)
    assert store.count() == 122
    ensure_trends(settings, triton, store)  # the second start finds them
    assert store.count() == 122
