"""`atelier bench --quick` against the embedded stack (real Triton, real Milvus Lite server), as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from atelier.catalog_store import search_breadth
from atelier.families import SERVED
from benchmarks.search_latency import EF_SWEEP, HELD_OUT_PICTURES
from benchmarks.suite import QUICK

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def quick_run(triton_server, milvus_uri, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "ATELIER_HOME": str(out / "home")}
    command = [sys.executable, "-m", "cli", "bench", "--quick", "--triton-url", triton_server.grpc_url,
               "--metrics-url", f"http://localhost:{triton_server.ports.metrics}/metrics", "--milvus-uri", milvus_uri,
               "--out", str(out)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600), out


def test_quick_suite_writes_json_png_and_markdown(quick_run) -> None:
    result, out = quick_run
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "suite_quick.json").read_text())
    with Image.open(out / "suite_quick.png") as chart:
        assert chart.format == "PNG" and chart.width > 800
    markdown = (out / "suite_quick.md").read_text()
    for model in SERVED:
        assert f"| {model} | 1 |" in markdown
    assert f"| {QUICK.search_sizes[0]:,} |" in markdown and "![suite](suite_quick.png)" in markdown
    assert report["triton"]["version"] and report["models_not_ready"] == []


def test_every_model_is_swept_and_triton_counted_every_request(quick_run) -> None:
    report = json.loads((quick_run[1] / "suite_quick.json").read_text())
    assert [entry["model"] for entry in report["models"]] == list(SERVED)
    for entry in report["models"]:
        embedding = entry["model"].startswith("clip_")
        expected = QUICK.embedding_concurrency if embedding else QUICK.generation_concurrency
        assert [level["concurrency"] for level in entry["levels"]] == list(expected)
        for level in entry["levels"]:
            assert 0 < level["p50_ms"] <= level["p90_ms"] <= level["p99_ms"]
            assert level["throughput_rps"] > 0
            # the server's own count for the model over this level equals what the client sent
            own = level["triton"][entry["model"]]
            assert own["requests"] == level["requests"] and own["failures"] == 0
            assert own["compute_ms"] > 0 and own["queue_ms"] >= 0
    txt2img_top = report["models"][2]["levels"][-1]["triton"]
    assert {"sdxl_text_encoder", "sdxl_unet", "sdxl_vae_decoder"} <= set(txt2img_top)
    assert txt2img_top["sdxl_unet"]["requests"] >= QUICK.generation.steps  # one call per step at least


def test_search_recall_and_ingest_are_measured_and_scratch_collections_dropped(quick_run, milvus_uri) -> None:
    report = json.loads((quick_run[1] / "suite_quick.json").read_text())
    (search,) = report["search"]
    assert search["rows"] == QUICK.search_sizes[0] and search["search_ef"] == search_breadth(QUICK.search_sizes[0])
    assert search["queries"]["typed text"] > 0 and search["queries"]["pictures"] == HELD_OUT_PICTURES
    for kind, by_ef in search["recall_at_10_by_ef"].items():
        recalls = [by_ef[str(ef)] for ef in EF_SWEEP]
        assert search["recall_at_10"][kind] == by_ef[str(search["search_ef"])]
        assert recalls[-1] >= 0.95, kind  # at ef 1024 HNSW over 2,000 rows finds nearly every exact neighbour
        assert all(wider >= narrower - 0.02 for narrower, wider in zip(recalls, recalls[1:]))  # wider finds more
    assert search["milvus_single"]["p50_ms"] > 0 and search["milvus_in_one_call_per_query_ms"] > 0
    assert search["baseline_numpy_exact"]["p50_ms"] > 0
    ingest = report["ingest"]
    assert ingest["upserted"] == ingest["stored"] == QUICK.ingest_products and ingest["rejected"] == 0
    assert ingest["products_per_s"] > 0 and ingest["ratio_vs_embed_only"] > 0
    # A fresh process: this one's cached connection to the server may have idled out meanwhile.
    listing = subprocess.run([sys.executable, "-c", "import sys; from pymilvus import MilvusClient; "
                              "print(' '.join(MilvusClient(sys.argv[1]).list_collections()))", milvus_uri],
                             capture_output=True, text=True, timeout=120, check=True)
    assert "atelier_bench_" not in listing.stdout


def test_unreachable_triton_is_one_clear_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cli", "bench", "--quick", "--triton-url", "localhost:9",
                             "--milvus-uri", str(tmp_path / "m.db"), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Triton is not reachable at localhost:9" in result.stderr
    assert not list(tmp_path.glob("suite_quick.*"))


def test_many_clients_searching_at_once_are_counted_per_kind_with_memory(triton_server, milvus_uri, demo_store,
                                                                          tmp_path: Path) -> None:
    env = {**os.environ, "ATELIER_HOME": str(tmp_path / "home"), "ATELIER_COLLECTION": demo_store.collection}
    command = [sys.executable, "-m", "cli", "bench", "load", "--clients", "4", "--seconds", "4",
               "--triton-url", triton_server.grpc_url, "--milvus-uri", milvus_uri, "--out", str(tmp_path)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    result = json.loads((tmp_path / "search_load.json").read_text())
    assert Image.open(tmp_path / "search_load.png").size[0] > 0
    kinds = result["loaded"]["kinds"]
    assert set(kinds) == set(result["one_client"]) and len(kinds) == 5
    assert all(report["requests"] > 0 and report["failures"] == 0 for report in kinds.values())
    assert all(report["p99_ms"] >= report["p50_ms"] > 0 for report in kinds.values())
    samples = result["loaded"]["rss_mib"]
    assert len(samples) >= 4 and all(sample.get("tritonserver", 0) > 0 and sample.get("milvus", 0) > 0
                                     for sample in samples)
