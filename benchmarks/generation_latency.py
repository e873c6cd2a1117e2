"""txt2img / edit / inpaint request latency through Triton (gRPC) against the same loop run in-process.

Both sides run the same denoising loop (atelier.diffusion.pipelines) over the same ONNX files with
the same scheduler (read from the Triton model's config.pbtxt), fixed seeds and parameters, and do
the whole job: validate and tokenize the request, decode the input PNGs, denoise, decode latents.
In-process the networks run with ONNX Runtime in this process (OnnxNetworks); in Triton the
Python model calls them as Triton models (BLS). Each side is warmed up at batch 1 and 4 first.

Concurrency 1: one request at a time. Concurrency 4: on the Triton side 4 threads, each with its
own TritonClient, each sending its requests one after another; the dynamic batcher gathers them
into one denoising batch. In-process the same 4 requests run as one batch through the pipeline's
batch call, which is what the batcher does at best, so each of the 4 requests' latency is the
batch's wall time. Throughput = requests / wall time of the whole measurement.

Threads: torch is left at its default here because the Triton Python model also runs torch (the
scheduler arithmetic) at its default. ONNX Runtime does the compute; both sides use its default
intra-op threads, or ATELIER_ORT_THREADS on both when it is set. The output of the first Triton
request is compared with the in-process image for the same seed to check the sides compute alike.

The tiny profile on CPU only: the full-size measurement (SDXL 1024x1024, 30 steps, fp16) needs a
GPU. Starts its own embedded Triton server on free ports against the configured model repository.

    atelier bench generation [--requests 24] [--steps 20] [--size 256]
        -> benchmarks/results/generation_latency.{json,png}
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as triton_grpc
from PIL import Image, ImageDraw
from tqdm import tqdm

from atelier.config import AtelierError, Settings
from atelier.diffusion.networks import OnnxNetworks
from atelier.diffusion.pipelines import load_pipeline
from atelier.images import png_bytes
from atelier.model_repository import configured_scheduler
from atelier.plots import saved_figure
from atelier.ports import free_port
from atelier.triton_client import TritonClient
from atelier.triton_server import EmbeddedTriton, TritonPorts

PIPELINES = ("txt2img", "edit", "inpaint")
CONCURRENCY = 4
PROMPT = "a red linen summer dress on a plain background"
INSTRUCTION = "make the dress navy blue"
GPU_NOTE = ("not run: the full-size measurement (SDXL 1024x1024, 30 steps, fp16) needs a GPU, "
            "and none was available")


def product_picture(size: int) -> tuple[bytes, bytes]:
    """A synthetic size x size product shot and a centred rectangular mask, as PNG bytes."""
    image = Image.new("RGB", (size, size), (232, 226, 214))
    ImageDraw.Draw(image).polygon([(0.35 * size, 0.15 * size), (0.65 * size, 0.15 * size),
                                   (0.8 * size, 0.9 * size), (0.2 * size, 0.9 * size)], fill=(150, 30, 40))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=255)
    return png_bytes(image), png_bytes(mask)


def _requests(kind: str, count: int, steps: int, size: int) -> list[dict[str, Any]]:
    """The named input values of `count` requests, request i with seed i."""
    image, mask = product_picture(size)
    common = {"txt2img": {"prompt": PROMPT, "width": size, "height": size},
              "edit": {"instruction": INSTRUCTION, "image": image},
              "inpaint": {"prompt": PROMPT, "image": image, "mask": mask}}[kind]
    return [{**common, "seed": seed, "steps": steps} for seed in range(count)]


def _summary(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    ms = np.asarray(latencies_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "images_per_s": round(len(latencies_s) / wall_s, 2)}


def _one_by_one(call: Callable[[list[dict]], Any], batches: list[list[dict]], bar: tqdm) -> dict[str, float]:
    """Runs the batches one after another; every request of a batch waits for the whole batch."""
    latencies, begin = [], time.perf_counter()
    for batch in batches:
        start = time.perf_counter()
        call(batch)
        latencies += [time.perf_counter() - start] * len(batch)
        bar.update(len(batch))
    return _summary(latencies, time.perf_counter() - begin)


def _in_process(repository: Path, networks: OnnxNetworks, kind: str, values: list[dict],
                bar: tqdm) -> tuple[dict[str, Any], np.ndarray]:
    """Latencies at concurrency 1 and 4 (one batch of 4), and the image for seed 0."""
    pipeline = load_pipeline(repository / kind / "1", networks)  # the scheduler config.pbtxt names, as in Triton

    def call(batch: list[dict]) -> list[np.ndarray]:
        return pipeline([pipeline.parse(v) for v in batch])

    reference = call(values[:1])[0]  # warm-up at batch 1
    call(values[:CONCURRENCY])  # warm-up at batch 4
    return {
        "concurrency_1": _one_by_one(call, [[v] for v in values], bar),
        "concurrency_4": _one_by_one(call, [values[i : i + CONCURRENCY] for i in range(0, len(values), CONCURRENCY)],
                                     bar),
    }, reference


def _executions(stats_client: triton_grpc.InferenceServerClient, kind: str, rows: int) -> tuple[int, int]:
    """Triton's counters for the model, rows inferred and executions (batches), once `rows` are counted.

    Triton counts a batch after its responses are sent, so the last one can be missing for a moment.
    """
    deadline = time.monotonic() + 5.0
    while True:
        stats = stats_client.get_inference_statistics(kind, as_json=True)["model_stats"][0]
        counted, executions = int(stats.get("inference_count", 0)), int(stats.get("execution_count", 0))
        if counted >= rows or time.monotonic() > deadline:
            return counted, executions
        time.sleep(0.05)


def _through_triton(url: str, kind: str, values: list[dict], reference: np.ndarray, bar: tqdm) -> dict[str, Any]:
    """Latencies at concurrency 1 and 4 (4 threads, one client each), and the batches Triton formed."""
    clients = [TritonClient(url) for _ in range(CONCURRENCY)]
    stats_client = triton_grpc.InferenceServerClient(url)

    def send(client: TritonClient, value: dict) -> float:
        start = time.perf_counter()
        client.generate(kind, **value)
        bar.update()
        return time.perf_counter() - start

    image, _ = clients[0].generate(kind, **values[0])  # warm-up at batch 1; seed 0 as in-process
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda k: clients[k].generate(kind, **values[k]), range(CONCURRENCY)))  # warm-up at 4
        result = {"concurrency_1": _one_by_one(lambda batch: clients[0].generate(kind, **batch[0]),
                                               [[v] for v in values], bar)}
        rows_before, executions_before = _executions(stats_client, kind, 1 + CONCURRENCY + len(values))
        begin = time.perf_counter()
        parts = pool.map(lambda k: [send(clients[k], v) for v in values[k::CONCURRENCY]], range(CONCURRENCY))
        latencies = [seconds for part in parts for seconds in part]
        result["concurrency_4"] = _summary(latencies, time.perf_counter() - begin)
    rows_after, executions_after = _executions(stats_client, kind, rows_before + len(values))
    result["concurrency_4"]["requests_per_execution"] = round(
        (rows_after - rows_before) / max(executions_after - executions_before, 1), 2)
    result["max_abs_pixel_diff_vs_in_process"] = int(np.abs(image.astype(int) - reference.astype(int)).max())
    return result


def _ratios(in_process: dict[str, Any], triton: dict[str, Any]) -> dict[str, float]:
    return {
        "p50_latency_c1": round(triton["concurrency_1"]["p50_ms"] / in_process["concurrency_1"]["p50_ms"], 2),
        "p50_latency_c4": round(triton["concurrency_4"]["p50_ms"] / in_process["concurrency_4"]["p50_ms"], 2),
        "throughput_c4": round(triton["concurrency_4"]["images_per_s"]
                               / in_process["concurrency_4"]["images_per_s"], 2),
    }


def run(settings: Settings, out: Path, requests: int = 24, steps: int = 20, size: int = 256) -> dict[str, Any]:
    """Measures the three pipelines in-process, then through a fresh embedded Triton; writes JSON and PNG."""
    if requests < CONCURRENCY or requests % CONCURRENCY:
        raise AtelierError(f"--requests must be a positive multiple of {CONCURRENCY}, not {requests}")
    repository = settings.model_repository
    values = {kind: _requests(kind, requests, steps, size) for kind in PIPELINES}
    networks = OnnxNetworks(repository, threads=int(os.environ.get("ATELIER_ORT_THREADS", "0")))
    in_process, references, triton = {}, {}, {}
    with tqdm(total=len(PIPELINES) * 4 * requests, desc="bench generation") as bar:
        for kind in PIPELINES:
            in_process[kind], references[kind] = _in_process(repository, networks, kind, values[kind], bar)
        with tempfile.TemporaryDirectory() as work:
            ports = TritonPorts(free_port(), free_port(), free_port())
            with EmbeddedTriton(repository, Path(work) / "runtime", ports) as server:
                for kind in PIPELINES:
                    triton[kind] = _through_triton(server.grpc_url, kind, values[kind], references[kind], bar)
    export = json.loads((repository / "txt2img/1/export.json").read_text())
    result = {
        "benchmark": "generation_latency",
        "unit": "latency in ms per request (p50, p95); throughput in images per second",
        "profile": export["build"]["profile"],
        "parameters": {"steps": steps, "width": size, "height": size, "requests_per_measurement": requests,
                       "seeds": f"0..{requests - 1}", "concurrency": [1, CONCURRENCY],
                       "schedulers": {kind: configured_scheduler(repository / kind) for kind in PIPELINES},
                       "ort_intra_op_threads": networks.threads or "default"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "gpu": None},
        "full_size_gpu": GPU_NOTE,
        "in_process_onnxruntime": in_process,
        "triton": triton,
        "ratio_vs_in_process": {kind: _ratios(in_process[kind], triton[kind]) for kind in PIPELINES},
        "ratio_note": "Triton / in-process: above 1 for latency or below 1 for throughput means Triton is slower",
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "generation_latency.json").write_text(json.dumps(result, indent=2))
    _plot(result, out / "generation_latency.png")
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    series = [("in_process_onnxruntime", "concurrency_1", "in-process c=1", "#bbb"),
              ("triton", "concurrency_1", "Triton c=1", "#8c8"),
              ("in_process_onnxruntime", "concurrency_4", "in-process c=4 (batch of 4)", "#666"),
              ("triton", "concurrency_4", "Triton c=4 (4 clients)", "#284")]
    x = np.arange(len(PIPELINES))
    parameters = result["parameters"]
    setting = f"{parameters['width']}x{parameters['height']}, {parameters['steps']} steps, CPU"
    with saved_figure(path, ncols=2, figsize=(12, 4.5)) as (latency, throughput):
        width = 0.2
        for i, (side, concurrency, label, colour) in enumerate(series):
            p50 = np.array([result[side][kind][concurrency]["p50_ms"] for kind in PIPELINES])
            p95 = np.array([result[side][kind][concurrency]["p95_ms"] for kind in PIPELINES])
            bars = latency.bar(x + (i - 1.5) * width, p50, width, yerr=[np.zeros_like(p50), p95 - p50],
                               capsize=3, label=label, color=colour)
            latency.bar_label(bars, fmt="%.0f", fontsize=7, padding=2)
        latency.set_xticks(x, PIPELINES)
        latency.set_ylabel("latency per request (ms)")
        latency.set_title(f"p50 latency, whisker to p95 ({setting})")
        latency.legend(fontsize=8)
        width = 0.35
        for i, (side, label, colour) in enumerate((("in_process_onnxruntime", "in-process (batch of 4)", "#666"),
                                                   ("triton", "Triton (4 clients)", "#284"))):
            rates = [result[side][kind]["concurrency_4"]["images_per_s"] for kind in PIPELINES]
            bars = throughput.bar(x + (i - 0.5) * width, rates, width, label=label, color=colour)
            throughput.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
        throughput.set_xticks(x, PIPELINES)
        throughput.set_ylabel("images per second")
        throughput.set_title(f"throughput at concurrency 4 ({setting})")
        throughput.legend(fontsize=8)
