"""What one megapixel-step of txt2img costs on this machine: the unit of the generation models' per-request budget
(`max_megapixel_steps` in their config.pbtxt). Sends txt2img requests of growing size, one at a time, to a running
Triton server and prints seconds per request and per megapixel-step (rows x steps x width x height / 1e6).

    python -m benchmarks.generation_cost [--triton-url localhost:8001]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tritonclient.grpc as triton_grpc

SHAPES = ((1, 20, 256), (1, 20, 512), (2, 20, 512))  # rows, steps, side


def seconds(client: triton_grpc.InferenceServerClient, rows: int, steps: int, side: int) -> float:
    values = {"prompt": (b"a red linen dress", np.object_, "BYTES"), "steps": (steps, np.int32, "INT32"),
              "width": (side, np.int32, "INT32"), "height": (side, np.int32, "INT32"), "seed": (1, np.int64, "INT64")}
    inputs = []
    for name, (value, dtype, kind) in values.items():
        tensor = triton_grpc.InferInput(name, [rows, 1], kind)
        tensor.set_data_from_numpy(np.array([[value]] * rows, dtype))
        inputs.append(tensor)
    started = time.perf_counter()
    client.infer("txt2img", inputs, client_timeout=900)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triton-url", default="localhost:8001")
    client = triton_grpc.InferenceServerClient(parser.parse_args().triton_url)
    seconds(client, 1, 2, 64)  # warm-up
    for rows, steps, side in SHAPES:
        took = seconds(client, rows, steps, side)
        work = rows * steps * side * side / 1e6
        print(f"{rows} row(s) x {steps} steps at {side}x{side}: {took:.2f} s, {work:.1f} megapixel-steps, "
              f"{took / work:.3f} s per megapixel-step")


if __name__ == "__main__":
    main()
