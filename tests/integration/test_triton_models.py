"""clip_text and clip_image on the live embedded Triton server."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from atelier.config import AtelierError
from atelier.images import png_bytes
from atelier.ports import free_port, port_in_use
from atelier.triton_server import EmbeddedTriton, TritonPorts
from export.parity import parity_report
from tests.conftest import copy_repository

pytestmark = pytest.mark.integration


def red_png() -> bytes:
    return png_bytes(Image.new("RGB", (90, 70), (200, 20, 20)))


def test_triton_embeddings_match_pytorch_and_are_unit_length(model_repository, triton_server):
    report = parity_report(model_repository, triton_server.grpc_url)
    assert report["onnxruntime_vs_torch"]["image_max_abs_diff"] < 1e-4
    assert report["onnxruntime_vs_torch"]["text_max_abs_diff"] < 1e-4
    assert report["triton_vs_torch"]["image_max_abs_diff"] < 1e-4
    assert report["triton_vs_torch"]["text_max_abs_diff"] < 1e-4
    assert report["triton_vs_torch"]["max_norm_error"] < 1e-5


def test_embeddings_carry_the_exported_model(triton, model_repository):
    embeddings, model = triton.embed_texts(["a", "b", "c"])
    assert embeddings.shape == (3, model.dim)
    assert model.id == "atelier-tiny-clip" and len(model.weights_sha256) == 64


def test_batch_of_many_texts_keeps_order(triton):
    texts = [f"item number {i}" for i in range(150)]  # more than one request's max batch
    batched, _ = triton.embed_texts(texts)
    singles = np.vstack([triton.embed_texts([t])[0] for t in texts[::37]])
    np.testing.assert_allclose(batched[::37], singles, atol=1e-5)


def truncated_png() -> bytes:
    return red_png()[:-40]


def huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (9000, 6000)).save(buffer, format="PNG")  # 54 megapixels, a few KB
    return buffer.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"this is not an image", "could not be decoded"),
    (b"", "image is empty"),
    (truncated_png(), "truncated or corrupt"),
    (huge_png(), "megapixels"),
])
def test_bad_image_gets_clear_error_and_next_request_succeeds(triton, data, message):
    with pytest.raises(AtelierError, match=message):
        triton.embed_images([data])
    embeddings, _ = triton.embed_images([red_png()])
    assert embeddings.shape[0] == 1 and abs(np.linalg.norm(embeddings[0]) - 1) < 1e-5


@pytest.mark.parametrize("text, message", [("   ", "text is empty"), ("x" * 5000, "at most 2000")])
def test_bad_text_gets_clear_error_and_next_request_succeeds(triton, text, message):
    with pytest.raises(AtelierError, match=message):
        triton.embed_texts([text])
    assert triton.embed_texts(["linen shirt"])[0].shape[0] == 1


def test_bad_item_in_a_concurrent_batch_fails_only_its_request(triton):
    """The dynamic batcher may put a bad request beside good ones: only the bad one fails."""
    from concurrent.futures import ThreadPoolExecutor

    payloads = [red_png()] * 6 + [b"corrupt"] + [red_png()] * 6
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(triton.embed_images, [p]) for p in payloads]
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result()[0].shape[0])
        except AtelierError:
            outcomes.append("error")
    assert outcomes == [1] * 6 + ["error"] + [1] * 6


def test_serve_refuses_a_taken_port(model_repository, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        server = EmbeddedTriton(model_repository, tmp_path / "rt", TritonPorts(free_port(), taken, free_port()))
        with pytest.raises(AtelierError, match=f"grpc port {taken} is already in use"):
            server.start()


def test_serve_refuses_an_unexported_repository(tmp_path):
    repository = copy_repository(tmp_path / "model_repository")
    server = EmbeddedTriton(repository, tmp_path / "rt", TritonPorts(free_port(), free_port(), free_port()))
    with pytest.raises(AtelierError, match="not exported yet .*clip_image_encoder.*atelier export"):
        server.start()


def test_atelier_serve_reports_ports_and_stops_cleanly(model_repository, tmp_path):
    http, grpc, metrics = free_port(), free_port(), free_port()
    env = {**os.environ, "ATELIER_MODEL_REPOSITORY": str(model_repository), "ATELIER_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "cli", "serve", "--http-port", str(http), "--grpc-port", str(grpc),
               "--metrics-port", str(metrics)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "Triton ready" in line:
            break
    assert f"gRPC :{grpc}" in lines[-1] and port_in_use(grpc)
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=60) == 0  # serve gives Triton 30 s to unload its models before killing it
    except subprocess.TimeoutExpired:
        process.kill()
        log = (tmp_path / "logs" / "tritonserver.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"serve did not stop within 60 s after SIGINT; its stderr: {process.stderr.read()!r}; "
                    f"Triton's log ends: {log}")
    assert "Triton stopped" in process.stderr.read()
    assert not port_in_use(grpc) and not port_in_use(http)
