"""Latency and throughput of the contract's Triton models over a sweep of concurrency (tritonclient grpc.aio).

At each concurrency level c, c coroutines share one gRPC channel and send the same request until
`requests` have been answered; latency is measured per request and throughput is requests / wall
time. Around every level Triton's metrics endpoint is read twice, and the difference gives what the
server itself saw for each model the level touched: requests, mean queue time and mean compute
time per request, and the mean batch the dynamic batcher formed. The networks a Python (BLS) model
calls show up there too, so a txt2img level lists sdxl_unet with one request per denoising step.
The baseline is the same model at concurrency 1, measured in the same run. Requests other clients
send meanwhile are counted too: run the suite on a server nobody else is using.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np
import tritonclient.grpc.aio as triton_aio
from tqdm import tqdm

from atelier.config import AtelierError
from atelier.triton_client import INPUT_TYPES

METRIC_LINE = re.compile(r'^(nv_inference_[a-z_]+)\{([^}]*)\}\s+(\S+)$')
COUNTERS = ("request_success", "request_failure", "count", "exec_count", "queue_duration_us",
            "compute_input_duration_us", "compute_infer_duration_us", "compute_output_duration_us")
COMPUTE = ("compute_input_duration_us", "compute_infer_duration_us", "compute_output_duration_us")


@dataclass(frozen=True)
class GenerationSize:
    """The denoising steps and square image side of generation requests; None keeps the model's default."""

    steps: int | None = None
    side: int | None = None


def request_values(model: str, pictures: dict[str, bytes], size: GenerationSize) -> dict[str, Any]:
    """The named inputs of one representative request to a contract model."""
    generation = {"seed": 0, "steps": size.steps}
    values: dict[str, Any] = {
        "clip_text": {"text": "a linen shirt for a beach wedding"},
        "clip_image": {"image": pictures["product"]},
        "txt2img": {"prompt": "a linen outfit for a beach wedding", "width": size.side, "height": size.side,
                    **generation},
        "edit": {"image": pictures["product"], "instruction": "make the shirt sage green", **generation},
        "inpaint": {"image": pictures["product"], "mask": pictures["mask"], "prompt": "a sage green linen shirt",
                    **generation},
        "tryon": {"person": pictures["product"], "garment": pictures["product"], "mask": pictures["mask"],
                  "garment_type": "upper", **generation},
    }[model]
    return {name: value for name, value in values.items() if value is not None}


def infer_inputs(values: dict[str, Any]) -> list[triton_aio.InferInput]:
    inputs = []
    for name, value in values.items():
        kind, dtype = INPUT_TYPES.get(name, ("BYTES", np.object_))
        tensor = triton_aio.InferInput(name, [1, 1], kind)
        tensor.set_data_from_numpy(np.array([[value.encode() if isinstance(value, str) else value]], dtype=dtype))
        inputs.append(tensor)
    return inputs


def scrape_metrics(url: str) -> dict[tuple[str, str], float]:
    """Triton's per-model inference counters: {(counter, model): value}, summed over versions."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    except OSError as error:
        raise AtelierError(f"Triton's metrics endpoint {url} is not reachable ({error}); pass --metrics-url") from error
    counters: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        model = re.search(r'model="([^"]+)"', labels)
        counter = name.removeprefix("nv_inference_")
        if model and counter in COUNTERS:
            key = (counter, model.group(1))
            counters[key] = counters.get(key, 0.0) + float(value)
    return counters


def server_view(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per model touched between two scrapes: requests, mean queue and compute ms per request, mean batch."""
    delta = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}
    view = {}
    for model in sorted({model for _, model in delta}):
        requests = delta.get(("request_success", model), 0.0)
        if requests <= 0:
            continue
        executions = max(delta.get(("exec_count", model), 0.0), 1.0)
        view[model] = {
            "requests": int(requests),
            "failures": int(delta.get(("request_failure", model), 0.0)),
            "queue_ms": round(delta.get(("queue_duration_us", model), 0.0) / requests / 1000, 3),
            "compute_ms": round(sum(delta.get((c, model), 0.0) for c in COMPUTE) / requests / 1000, 3),
            "mean_batch": round(delta.get(("count", model), 0.0) / executions, 2),
        }
    return view


def settled_metrics(url: str, model: str, at_least: float) -> dict[tuple[str, str], float]:
    """A scrape once `model` has counted `at_least` successes: Triton counts a request after its response."""
    deadline = time.monotonic() + 5.0
    while True:
        counters = scrape_metrics(url)
        if counters.get(("request_success", model), 0.0) >= at_least or time.monotonic() > deadline:
            return counters
        time.sleep(0.05)


def latency_summary(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    ms = np.asarray(latencies_s) * 1000
    summary = {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 90, 99)}
    return {**summary, "mean_ms": round(float(ms.mean()), 2), "throughput_rps": round(len(ms) / wall_s, 2)}


async def _level(client: triton_aio.InferenceServerClient, model: str, inputs: list, concurrency: int,
                 requests: int, timeout_s: float, bar: tqdm) -> dict[str, float]:
    latencies: list[float] = []
    tickets = iter(range(requests))  # shared by the workers: each takes the next request to send

    async def worker() -> None:
        for _ in tickets:
            start = time.perf_counter()
            await client.infer(model, inputs, client_timeout=timeout_s)
            latencies.append(time.perf_counter() - start)
            bar.update()

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latency_summary(latencies, time.perf_counter() - begin)


async def _sweep(url: str, metrics_url: str, model: str, values: dict[str, Any], levels: list[int],
                 requests: int, timeout_s: float, bar: tqdm) -> list[dict[str, Any]]:
    client = triton_aio.InferenceServerClient(url)
    inputs = infer_inputs(values)
    try:
        answered = scrape_metrics(metrics_url).get(("request_success", model), 0.0)
        await client.infer(model, inputs, client_timeout=timeout_s)  # warm-up
        answered += 1
        results = []
        for concurrency in levels:
            count = max(requests, concurrency)
            before = settled_metrics(metrics_url, model, answered)
            result = await _level(client, model, inputs, concurrency, count, timeout_s, bar)
            answered += count
            after = settled_metrics(metrics_url, model, answered)
            results.append({"concurrency": concurrency, "requests": count, **result,
                            "triton": server_view(before, after)})
        return results
    finally:
        await client.close()


def sweep(url: str, metrics_url: str, model: str, values: dict[str, Any], levels: list[int], requests: int,
          timeout_s: float = 900.0) -> dict[str, Any]:
    """One model over the concurrency levels; ratios are against concurrency 1 (or the lowest level)."""
    total = sum(max(requests, c) for c in levels)
    with tqdm(total=total, desc=f"bench {model}", unit="req", leave=False) as bar:
        try:
            levels_out = asyncio.run(_sweep(url, metrics_url, model, values, levels, requests, timeout_s, bar))
        except triton_aio.InferenceServerException as error:
            raise AtelierError(f"{model} at {url}: {error.message()}") from error
    base = levels_out[0]
    for level in levels_out:
        level["throughput_vs_lowest"] = round(level["throughput_rps"] / base["throughput_rps"], 2)
        level["p50_vs_lowest"] = round(level["p50_ms"] / base["p50_ms"], 2)
    return {"model": model, "request": {k: v for k, v in values.items() if not isinstance(v, bytes)},
            "levels": levels_out}
