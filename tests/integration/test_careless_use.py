"""Careless use of the real stack ends in one clear line, never a traceback, and loses nothing quietly: two ingests
into one collection at once, Milvus stopping mid-ingest, a full disk, a damaged model repository."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atelier.catalog_store import CatalogStore
from atelier.config import AtelierError
from atelier.ports import free_port
from atelier.processes import milvus_lite_server
from atelier.triton_server import EmbeddedTriton, TritonPorts
from tests.conftest import DEMO_COUNT

pytestmark = pytest.mark.integration


def atelier(*args: str, env: dict[str, str], wait: bool = True):
    command = [sys.executable, "-m", "cli", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def environment(triton_server, milvus_uri: str, collection: str, home: Path) -> dict[str, str]:
    return {**os.environ, "ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
            "ATELIER_COLLECTION": collection, "ATELIER_HOME": str(home)}


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("atelier: error: "), stderr
    return lines[0]


def test_a_second_ingest_into_a_collection_being_written_is_refused_naming_the_first(triton_server, milvus_uri,
                                                                                      demo_csv, tmp_path):
    env = environment(triton_server, milvus_uri, "one-writer", tmp_path)
    store = CatalogStore(milvus_uri, "one-writer")
    with store.writing():  # the first ingest, as the dashboard's upload would hold it
        second = atelier("ingest", str(demo_csv), "--json", env=env)
    assert second.returncode == 1
    message = one_line_error(second.stderr)
    assert "another ingest into collection 'one-writer'" in message and f"pid {os.getpid()}" in message
    assert not store.exists() or store.count() == 0, "the refused ingest wrote nothing"

    after = atelier("ingest", str(demo_csv), "--json", env=env)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["upserted"] == DEMO_COUNT


def test_milvus_stopping_mid_ingest_is_one_line_and_the_next_run_finishes(triton_server, demo_csv, tmp_path):
    port = free_port()
    milvus = milvus_lite_server(tmp_path / "data", port, tmp_path / "milvus.log")
    milvus.start()
    uri = f"http://127.0.0.1:{port}"
    env = environment(triton_server, uri, "interrupted", tmp_path)
    try:
        store = CatalogStore(uri, "interrupted")
        ingest = atelier("ingest", str(demo_csv), "--batch-size", "8", "--json", env=env, wait=False)
        deadline = time.monotonic() + 120
        while (not store.exists() or store.count() < 16) and time.monotonic() < deadline and ingest.poll() is None:
            time.sleep(0.2)
        milvus.process.send_signal(signal.SIGKILL)
        milvus.process.wait()
        _, stderr = ingest.communicate(timeout=180)
        assert ingest.returncode == 1
        message = one_line_error(stderr)
        assert f"Milvus at {uri} is not answering" in message and "run the same ingest again" in message

        milvus.start()
        again = atelier("ingest", str(demo_csv), "--batch-size", "8", "--json", env=env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["collection_rows"] == DEMO_COUNT
        assert sorted(CatalogStore(uri, "interrupted").ids()) == sorted(set(CatalogStore(uri, "interrupted").ids()))
    finally:
        milvus.stop()


def test_a_full_disk_is_one_line(triton_server, milvus_uri, demo_csv, tmp_path):
    catalog = demo_csv.parent / "one-bad-row.csv"
    lines = demo_csv.read_text().splitlines()
    catalog.write_text("\n".join([*lines[:3], "no-title,,tops,shirt,red,solid,b,10,images/x.png"]) + "\n")
    result = atelier("ingest", str(catalog), "--rejects", "/dev/full", "--json",  # /dev/full: every write is ENOSPC
                     env=environment(triton_server, milvus_uri, "full-disk", tmp_path))
    assert result.returncode == 1
    assert one_line_error(result.stderr) == "atelier: error: the disk is full writing /dev/full; mend that and run " \
                                            "the command again"


def test_another_catalog_with_the_same_ids_is_reported_as_replacing_them(triton_server, milvus_uri, demo_csv,
                                                                          tmp_path):
    env = environment(triton_server, milvus_uri, "replaced", tmp_path)
    assert json.loads(atelier("ingest", str(demo_csv), "--json", env=env).stdout)["replaced"] == 0
    header, first, *rest = demo_csv.read_text().splitlines()
    other = demo_csv.parent / "another-supplier.csv"  # the same ids, one title changed, another source
    other.write_text("\n".join([header, first.replace(first.split(",")[1], "a retitled product"), *rest]) + "\n")
    report = json.loads(atelier("ingest", str(other), "--json", env=env).stdout)
    assert report["replaced"] == report["upserted"] == DEMO_COUNT and report["collection_rows"] == DEMO_COUNT
    unchanged = json.loads(atelier("ingest", str(other), "--json", env=env).stdout)
    assert unchanged["replaced"] == unchanged["upserted"] == 0


def test_a_damaged_model_repository_is_refused_before_triton_starts_naming_each_fault(model_repository, tmp_path):
    damaged = tmp_path / "repository"
    for name in ("clip_text", "clip_text_encoder", "clip_image_encoder", "edit", "pix2pix_unet"):
        shutil.copytree(model_repository / name, damaged / name, ignore=shutil.ignore_patterns("__pycache__"))
    onnx = damaged / "clip_image_encoder" / "1" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:100_000])  # a truncated copy
    shutil.rmtree(damaged / "edit" / "1" / "scheduler")
    server = EmbeddedTriton(damaged, tmp_path / "runtime", TritonPorts(free_port(), free_port(), free_port()))
    with pytest.raises(AtelierError) as refused:
        server.start()
    message = str(refused.value)
    assert f"{onnx} does not parse as ONNX" in message
    assert f"{damaged / 'edit' / '1' / 'scheduler'} is missing" in message
    record = damaged / "edit" / "1" / "export.json"
    assert f"{damaged / 'pix2pix_vae_decoder'} is missing (named by {record})" in message
    assert server.service is None, "refused before any process started"


def test_a_model_triton_cannot_load_is_named_with_its_reason(model_repository, tmp_path):
    damaged = tmp_path / "repository"
    for name in ("clip_text", "clip_text_encoder"):
        shutil.copytree(model_repository / name, damaged / name, ignore=shutil.ignore_patterns("__pycache__"))
    with open(damaged / "clip_text" / "1" / "model.py", "a") as code:
        code.write("\nthis line is not Python\n")  # a damage only loading the model shows
    server = EmbeddedTriton(damaged, tmp_path / "runtime", TritonPorts(free_port(), free_port(), free_port()))
    with pytest.raises(AtelierError) as failed:
        server.start()
    message = str(failed.value)
    assert message.startswith(f"Triton could not load 1 model(s) from {damaged}")
    assert "\n  clip_text: " in message and "SyntaxError" in message
    assert not server.running()


def test_a_config_syntax_error_is_refused_before_triton_starts_naming_file_line_and_column(model_repository,
                                                                                           tmp_path):
    damaged = tmp_path / "repository"
    shutil.copytree(model_repository / "clip_text", damaged / "clip_text", ignore=shutil.ignore_patterns("__pycache__"))
    config = damaged / "clip_text" / "config.pbtxt"
    config.write_text(config.read_text().replace('backend: "python"', 'backend: "python" }'))
    line = next(number for number, text in enumerate(config.read_text().splitlines(), 1) if "backend" in text)
    server = EmbeddedTriton(damaged, tmp_path / "runtime", TritonPorts(free_port(), free_port(), free_port()))
    with pytest.raises(AtelierError, match=rf"^{config}:{line}:\d+: .*config.pbtxt that Triton cannot read"):
        server.start()
    assert server.service is None, "refused before any process started"
