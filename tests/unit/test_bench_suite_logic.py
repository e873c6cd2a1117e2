"""The benchmark suite's arithmetic: Triton's metrics read and differenced, and the options turned into a config."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from atelier.config import AtelierError
from benchmarks.suite import QUICK, metrics_url_for
from benchmarks.triton_load import latency_summary, scrape_metrics, server_view
from cli.bench import suite_config
from cli.main import build_parser

EXPOSITION = """# HELP nv_inference_request_success Number of successful inference requests
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="txt2img",version="1"} 10
nv_inference_request_success{model="txt2img",version="2"} 2
nv_inference_queue_duration_us{model="txt2img",version="1"} 120000
nv_inference_compute_infer_duration_us{model="txt2img",version="1"} 600000
nv_inference_count{model="txt2img",version="1"} 12
nv_inference_exec_count{model="txt2img",version="1"} 6
nv_gpu_utilization{gpu_uuid="GPU-1"} 0.5
nv_inference_request_success{model="sdxl_unet",version="1"} 40
"""


@pytest.fixture
def metrics_url():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = EXPOSITION.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()


def test_scrape_sums_versions_and_keeps_only_per_model_inference_counters(metrics_url: str) -> None:
    counters = scrape_metrics(metrics_url)
    assert counters[("request_success", "txt2img")] == 12
    assert counters[("queue_duration_us", "txt2img")] == 120000
    assert counters[("request_success", "sdxl_unet")] == 40
    assert not any(model.startswith("GPU") for _, model in counters)


def test_unreachable_metrics_endpoint_names_the_url_and_the_option() -> None:
    with pytest.raises(AtelierError, match=r"http://127.0.0.1:9/metrics is not reachable .*--metrics-url"):
        scrape_metrics("http://127.0.0.1:9/metrics")


def test_server_view_is_per_request_means_over_the_difference() -> None:
    before = {("request_success", "txt2img"): 10.0, ("queue_duration_us", "txt2img"): 100_000.0,
              ("compute_infer_duration_us", "txt2img"): 500_000.0, ("count", "txt2img"): 10.0,
              ("exec_count", "txt2img"): 10.0, ("request_success", "clip_text"): 5.0}
    after = {("request_success", "txt2img"): 14.0, ("queue_duration_us", "txt2img"): 180_000.0,
             ("compute_infer_duration_us", "txt2img"): 700_000.0, ("compute_input_duration_us", "txt2img"): 4_000.0,
             ("count", "txt2img"): 14.0, ("exec_count", "txt2img"): 12.0, ("request_success", "clip_text"): 5.0}
    view = server_view(before, after)
    assert list(view) == ["txt2img"]  # clip_text saw nothing in between
    assert view["txt2img"] == {"requests": 4, "failures": 0, "queue_ms": 20.0, "compute_ms": 51.0, "mean_batch": 2.0}


def test_latency_summary_percentiles_and_throughput() -> None:
    summary = latency_summary([0.01] * 98 + [0.5, 1.0], wall_s=2.0)
    assert summary["p50_ms"] == 10.0 and summary["p99_ms"] > 400 and summary["throughput_rps"] == 50.0


def test_metrics_url_defaults_to_tritons_metrics_port_on_the_grpc_host() -> None:
    assert metrics_url_for("triton.internal:8001") == "http://triton.internal:8002/metrics"


def test_options_override_the_quick_config() -> None:
    args = build_parser().parse_args(["bench", "--quick", "--models", "clip_text,txt2img", "--concurrency", "1,8",
                                      "--steps", "3", "--sizes", "1000,5000"])
    config = suite_config(args)
    assert args.what == "suite" and config.name == QUICK.name
    assert config.models == ("clip_text", "txt2img")
    assert config.embedding_concurrency == config.generation_concurrency == (1, 8)
    assert (config.generation.steps, config.generation.side) == (3, QUICK.generation.side)
    assert config.search_sizes == (1000, 5000) and config.ingest_products == QUICK.ingest_products
