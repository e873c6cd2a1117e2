"""clip_image / clip_text throughput through Triton (gRPC) against the same ONNX files run in-process.

Both sides do the whole job: images are decoded and preprocessed, texts tokenized, then the ONNX
encoder runs. The in-process baseline is one Python loop with ONNX Runtime, one item at a time and in
batches of MAX_BATCH; Triton is measured at concurrency 1 and 8 (single-item requests, dynamically batched)
and with 16- and MAX_BATCH-item requests, each against the in-process loop at the same batch (single-item
requests against one item at a time).
Starts its own embedded Triton server on free ports against the configured model repository.

    atelier bench clip [--requests N]      -> benchmarks/results/clip_throughput.{json,png}
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from atelier.config import Settings
from atelier.images import png_bytes
from atelier.plots import saved_figure
from atelier.ports import free_port
from atelier.triton_client import MAX_BATCH, TritonClient
from atelier.triton_server import EmbeddedTriton, TritonPorts
from export.parity import sample_images
from models.clip import load_exported_clip


def _rate(items: int, seconds: float) -> float:
    return round(items / seconds, 1)


def _in_process(repository: Path, images: list[bytes], texts: list[str]) -> dict[str, dict[str, float]]:
    from io import BytesIO

    from PIL import Image

    bundle = load_exported_clip(repository)
    image_session = ort.InferenceSession(str(repository / "clip_image_encoder/1/model.onnx"))
    text_session = ort.InferenceSession(str(repository / "clip_text_encoder/1/model.onnx"))

    def embed_images(batch: list[bytes]) -> None:
        pixels = torch.stack([bundle.preprocess(Image.open(BytesIO(data)).convert("RGB")) for data in batch])
        image_session.run(["embedding"], {"pixel_values": pixels.numpy()})

    def embed_texts(batch: list[str]) -> None:
        text_session.run(["embedding"], {"input_ids": bundle.tokenizer(batch).numpy().astype(np.int64)})

    rates: dict[str, dict[str, float]] = {}
    for kind, items, embed in (("image", images, embed_images), ("text", texts, embed_texts)):
        rates[kind] = {}
        for name, size in (("one_at_a_time", 1), (f"batch_{MAX_BATCH}", MAX_BATCH)):
            start = time.perf_counter()
            for offset in range(0, len(items), size):
                embed(items[offset : offset + size])
            rates[kind][name] = _rate(len(items), time.perf_counter() - start)
    return rates


def _through_triton(url: str, images: list[bytes], texts: list[str]) -> dict[str, dict[str, float]]:
    clients = [TritonClient(url) for _ in range(8)]
    results: dict[str, dict[str, float]] = {}
    for kind, items, call in (("image", images, "embed_images"), ("text", texts, "embed_texts")):
        getattr(clients[0], call)(items[:4])  # warm-up
        start = time.perf_counter()
        for item in items:
            getattr(clients[0], call)([item])
        rates = {"concurrency_1": _rate(len(items), time.perf_counter() - start)}
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i, call=call, items=items: getattr(clients[i % 8], call)([items[i]]),
                          range(len(items))))
        rates["concurrency_8"] = _rate(len(items), time.perf_counter() - start)
        for size in (16, MAX_BATCH):
            start = time.perf_counter()
            for offset in range(0, len(items), size):
                getattr(clients[0], call)(items[offset : offset + size])
            rates[f"batch_{size}"] = _rate(len(items), time.perf_counter() - start)
        results[kind] = rates
    return results


def _baseline_for(measurement: str) -> str:
    """The in-process loop a Triton measurement is compared with: the same batch, or one item at a time."""
    return measurement if measurement == f"batch_{MAX_BATCH}" else "one_at_a_time"


def run(settings: Settings, out: Path, requests: int = 256) -> dict[str, Any]:
    torch.set_num_threads(1)
    repository = settings.model_repository
    photos = sample_images()
    images = [png_bytes(photos[i % len(photos)]) for i in range(requests)]
    texts = [f"a {c} {g} number {i}" for i, (c, g) in enumerate(zip(["red", "navy", "sage"] * requests,
                                                                       ["shirt", "dress"] * requests))][:requests]
    with tqdm(total=2, desc="bench clip") as bar:
        baseline = _in_process(repository, images, texts)
        bar.update()
        with tempfile.TemporaryDirectory() as work:
            ports = TritonPorts(free_port(), free_port(), free_port())
            with EmbeddedTriton(repository, Path(work) / "runtime", ports) as server:
                triton = _through_triton(server.grpc_url, images, texts)
        bar.update()
    result = {
        "benchmark": "clip_throughput", "unit": "items per second", "requests": requests,
        "embedding_model": json.loads((repository / "clip_text/1/export.json").read_text())["embedding_model"],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "in_process_onnxruntime": baseline, "triton": triton,
        "ratio_vs_in_process": {kind: {k: round(v / baseline[kind][_baseline_for(k)], 2) for k, v in rates.items()}
                                for kind, rates in triton.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "clip_throughput.json").write_text(json.dumps(result, indent=2))
    _plot(result, out / "clip_throughput.png")
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    labels = ["in-process ORT", f"in-process batch {MAX_BATCH}", "Triton c=1", "Triton c=8", "Triton batch 16",
              f"Triton batch {MAX_BATCH}"]
    with saved_figure(path, ncols=2, figsize=(12, 4)) as axes:
        for axis, kind in zip(axes, ("image", "text")):
            values = [*result["in_process_onnxruntime"][kind].values(), *result["triton"][kind].values()]
            axis.bar(labels, values, color=["#888", "#666", "#4a7", "#2a6", "#184", "#063"])
            axis.set_title(f"clip_{kind}: {result['unit']}")
            axis.tick_params(axis="x", rotation=20)
