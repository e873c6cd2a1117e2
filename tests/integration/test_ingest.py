"""`atelier ingest` against the live Triton server and Milvus Lite: idempotence, resume, rejects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from atelier.catalog_store import CatalogStore
from atelier.config import AtelierError
from atelier.ports import free_port
from ingest.fetch import ImageSources
from ingest.pipeline import ingest_catalog
from tests.conftest import DEMO_COUNT

pytestmark = pytest.mark.integration


def test_ingesting_the_same_file_twice_leaves_the_count_unchanged(triton, milvus_uri, demo_csv, tmp_path):
    store = CatalogStore(milvus_uri, "twice")
    first = ingest_catalog(demo_csv, triton, store, tmp_path / "r1.jsonl", progress=False)
    second = ingest_catalog(demo_csv, triton, store, tmp_path / "r2.jsonl", progress=False)
    assert first.upserted == DEMO_COUNT and first.collection_rows == DEMO_COUNT
    assert second.upserted == 0 and second.unchanged == DEMO_COUNT and second.collection_rows == DEMO_COUNT


def test_a_changed_row_is_updated_in_place(triton, milvus_uri, demo_csv, tmp_path):
    store = CatalogStore(milvus_uri, "changed")
    ingest_catalog(demo_csv, triton, store, tmp_path / "r.jsonl", progress=False)
    frame = pd.read_csv(demo_csv, dtype=str)
    frame.loc[0, "price"] = "999.5"
    frame["image"] = [str(demo_csv.parent / image) for image in frame["image"]]
    changed = tmp_path / demo_csv.name  # same name: same `source`, so only the price differs
    frame.to_csv(changed, index=False)
    report = ingest_catalog(changed, triton, store, tmp_path / "r2.jsonl", progress=False,
                            sources=ImageSources.under([demo_csv.parent]))
    assert report.upserted == 1 and report.collection_rows == DEMO_COUNT
    row = store.client.query(store.collection, filter=f'id == "{frame.loc[0, "id"]}"', output_fields=["price"])
    assert row[0]["price"] == pytest.approx(999.5)


def test_malformed_rows_and_unreadable_images_go_to_rejects(triton, milvus_uri, demo_csv, tmp_path):
    good = pd.read_csv(demo_csv, dtype=str).head(3)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    closed_port = free_port()
    base = {"category": "tops", "color": "red", "pattern": "solid", "brand": "b", "price": "10"}
    bad = [
        {**base, "id": "no-title", "title": "", "image": good.loc[0, "image"]},
        {**base, "id": "bad-price", "title": "t", "image": good.loc[0, "image"], "price": "cheap"},
        {**base, "id": "missing-file", "title": "t", "image": "images/does-not-exist.png"},
        {**base, "id": "corrupt", "title": "t", "image": str(tmp_path / "corrupt.png")},
        {**base, "id": "unreachable", "title": "t", "image": f"http://127.0.0.1:{closed_port}/x.png"},
        {**base, "id": good.loc[1, "id"], "title": "duplicate", "image": good.loc[1, "image"]},
    ]
    catalog = demo_csv.parent / "with-bad-rows.csv"
    pd.concat([good, pd.DataFrame(bad)]).to_csv(catalog, index=False)
    rejects_path = tmp_path / "rejects.jsonl"
    sources = ImageSources.under([demo_csv.parent, tmp_path], allow_private=True)  # the closed port is on loopback
    report = ingest_catalog(catalog, triton, CatalogStore(milvus_uri, "rejects"), rejects_path, progress=False,
                            sources=sources)
    lines = [json.loads(line) for line in rejects_path.read_text().splitlines()]
    rejects = {line["row"]["id"]: line["reason"] for line in lines}
    assert report.upserted == 3 and report.collection_rows == 3
    assert rejects["no-title"] == "missing title"
    assert "not a number" in rejects["bad-price"]
    assert "does not exist" in rejects["missing-file"]
    assert rejects["corrupt"].startswith("image data is truncated or corrupt")
    assert "cannot fetch" in rejects["unreachable"]
    records = {line["row"]["id"]: line["line"] for line in lines}  # 3 good rows, then the bad ones in order
    assert (records["missing-file"], records["corrupt"], records["unreachable"]) == (6, 7, 8)
    assert "duplicate id" in rejects[good.loc[1, "id"]]


def test_a_killed_ingest_resumes_and_ends_with_every_row_once(triton_server, milvus_uri, demo_csv, tmp_path):
    env = {**os.environ, "ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
           "ATELIER_COLLECTION": "resumed", "ATELIER_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "cli", "ingest", str(demo_csv), "--batch-size", "8", "--json"]
    store = CatalogStore(milvus_uri, "resumed")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while store.count() < 16 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = store.count()
    assert 0 < partial < DEMO_COUNT, "the ingest was killed midway"

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    assert summary["unchanged"] >= partial - 8  # at most the batch in flight is redone
    ids = store.ids()
    expected = pd.read_csv(demo_csv, dtype=str)["id"].tolist()
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))


def test_the_same_picture_twice_is_rejected_naming_the_first_product(triton, milvus_uri, demo_csv, tmp_path):
    from PIL import Image

    frame = pd.read_csv(demo_csv, dtype=str).head(4)
    images = [str(demo_csv.parent / image) for image in frame["image"]]
    Image.open(images[0]).convert("RGB").resize((200, 200)).save(tmp_path / "copy.jpg", quality=85)
    frame["image"] = [images[0], images[0], str(tmp_path / "copy.jpg"), images[3]]  # rows 2, 3 repeat row 1
    catalog = tmp_path / "catalog.csv"
    frame.to_csv(catalog, index=False)
    store = CatalogStore(milvus_uri, "pictures")
    sources = ImageSources.under([demo_csv.parent, tmp_path])
    report = ingest_catalog(catalog, triton, store, tmp_path / "r.jsonl", progress=False, sources=sources)
    first = frame.loc[0, "id"]
    assert report.upserted == 2 and sorted(store.ids()) == sorted([first, frame.loc[3, "id"]])
    assert [reject.reason for reject in report.rejects] == [f"the same picture as product {first}"] * 2
    frame.loc[0, "price"] = "1.5"  # the first product again, changed: its own picture is no duplicate
    frame.head(1).to_csv(catalog, index=False)
    again = ingest_catalog(catalog, triton, store, tmp_path / "r2.jsonl", progress=False, sources=sources)
    assert again.upserted == 1 and not again.rejects


def test_rows_cannot_make_ingest_read_local_files_or_reach_private_addresses(triton, milvus_uri, demo_csv, tmp_path):
    good = pd.read_csv(demo_csv, dtype=str).head(1)
    good["image"] = [str(demo_csv.parent / image) for image in good["image"]]
    base = {"category": "tops", "color": "red", "pattern": "solid", "brand": "b", "price": "10", "title": "t"}
    hostile = [{**base, "id": "passwd", "image": "/etc/passwd"},
               {**base, "id": "climb", "image": "../../../../../../etc/hostname"},
               {**base, "id": "metrics", "image": f"http://127.0.0.1:{free_port()}/metrics"},
               {**base, "id": "v6", "image": "http://[::1]/x.png"},
               {**base, "id": "cloud", "image": "http://169.254.169.254/latest/meta-data"}]
    catalog = tmp_path / "hostile.csv"
    pd.concat([good, pd.DataFrame(hostile)]).to_csv(catalog, index=False)
    report = ingest_catalog(catalog, triton, CatalogStore(milvus_uri, "hostile_rows"), tmp_path / "r.jsonl",
                            progress=False, sources=ImageSources.under([demo_csv.parent, tmp_path]))
    reasons = {reject.row["id"]: reject.reason for reject in report.rejects}
    assert report.upserted == 1
    assert "is outside the folders images are read from" in reasons["passwd"]
    assert "is outside the folders images are read from" in reasons["climb"]
    assert {reasons[name].split(":")[0] for name in ("metrics", "v6", "cloud")} == {"refused"}
    with pytest.raises(AtelierError, match="batch size must be at least 1"):
        ingest_catalog(catalog, triton, CatalogStore(milvus_uri, "hostile_rows"), tmp_path / "r.jsonl",
                       batch_size=0, progress=False)
