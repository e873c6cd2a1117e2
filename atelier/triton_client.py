"""gRPC client for the models of the contract (clip_text, clip_image, txt2img, edit, inpaint) and server status."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tritonclient.grpc as triton_grpc
from tritonclient.utils import InferenceServerException

from atelier.config import AtelierError
from atelier.images import MAX_REQUEST_PIXELS, pixel_count

MAX_BATCH = 64  # the max_batch_size of clip_text and clip_image
GENERATION_TIMEOUT_S = 900.0
INPUT_TYPES = {"seed": ("INT64", np.int64), "steps": ("INT32", np.int32), "width": ("INT32", np.int32),
               "height": ("INT32", np.int32), "guidance_scale": ("FP32", np.float32),
               "image_guidance_scale": ("FP32", np.float32), "strength": ("FP32", np.float32)}


@dataclass(frozen=True)
class EmbeddingModel:
    """Which model produced an embedding: recorded by the catalog to refuse mixing models."""

    id: str
    weights_sha256: str
    dim: int

    @classmethod
    def from_json(cls, text: str | bytes) -> EmbeddingModel:
        record = json.loads(text)
        return cls(str(record["id"]), str(record["weights_sha256"]), int(record["dim"]))

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "weights_sha256": self.weights_sha256, "dim": self.dim}, sort_keys=True)

    def __str__(self) -> str:
        return f"{self.id} (weights {self.weights_sha256[:12]}, dim {self.dim})"


class TritonClient:
    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._client = triton_grpc.InferenceServerClient(url)

    def _call(self, model: str, inputs: list, timeout_s: float):
        try:
            return self._client.infer(model, inputs, client_timeout=timeout_s)
        except InferenceServerException as error:
            status = error.status() or ""
            if "UNAVAILABLE" in status:
                raise AtelierError(
                    f"Triton is not reachable at {self.url} ({error.message()}); "
                    "start it with `atelier serve` or `atelier up`"
                ) from error
            if "DEADLINE" in status:
                raise AtelierError(f"{model} did not answer within {timeout_s:.0f} s") from error
            raise AtelierError(f"{model}: {error.message()}") from error

    def _request(self, model: str, input_name: str, items: list):
        tensor = triton_grpc.InferInput(input_name, [len(items), 1], "BYTES")
        tensor.set_data_from_numpy(np.array(items, dtype=np.object_).reshape(-1, 1))
        return self._call(model, [tensor], self.timeout_s)

    def _infer(self, model: str, input_name: str, items: list) -> tuple[np.ndarray, EmbeddingModel]:
        result = self._request(model, input_name, items)
        return result.as_numpy("embedding"), EmbeddingModel.from_json(result.as_numpy("model_info")[0][0])

    def _embed(self, model: str, input_name: str, items: list,
               weight: Callable[[bytes], int] = lambda item: 0, budget: int = 0) -> tuple[np.ndarray, EmbeddingModel]:
        """Embeddings of `items`, sent in requests of at most MAX_BATCH items and `budget` of `weight`."""
        if not items:
            raise AtelierError(f"{model}: nothing to embed")
        chunks, used = [], set()
        for chunk in _requests(items, weight, budget):
            embeddings, embedding_model = self._infer(model, input_name, chunk)
            chunks.append(embeddings)
            used.add(embedding_model)
        if len(used) > 1:  # the server was re-exported mid-call
            raise AtelierError(f"{model} changed while embedding: {', '.join(map(str, used))}")
        return np.concatenate(chunks), used.pop()

    def embed_texts(self, texts: list[str]) -> tuple[np.ndarray, EmbeddingModel]:
        """L2-normalised text embeddings [N, D] and the model that made them."""
        return self._embed("clip_text", "text", [t.encode("utf-8") for t in texts])

    def embed_images(self, images: list[bytes]) -> tuple[np.ndarray, EmbeddingModel]:
        """L2-normalised embeddings [N, D] of encoded images (PNG/JPEG/WebP bytes)."""
        return self._embed("clip_image", "image", list(images), pixel_count, MAX_REQUEST_PIXELS)

    def generate(self, model: str, **values: str | bytes | float | int | None) -> tuple[np.ndarray, int]:
        """One image (H, W, 3 uint8) and its seed from txt2img, edit, inpaint or tryon.

        `values` are the contract's input names; None leaves an optional input out (the model's default).
        """
        inputs = []
        for name, value in values.items():
            if value is None:
                continue
            kind, dtype = INPUT_TYPES.get(name, ("BYTES", np.object_))
            if kind == "BYTES" and isinstance(value, str):
                value = value.encode("utf-8")
            tensor = triton_grpc.InferInput(name, [1, 1], kind)
            tensor.set_data_from_numpy(np.array([[value]], dtype=dtype))
            inputs.append(tensor)
        result = self._call(model, inputs, GENERATION_TIMEOUT_S)
        return result.as_numpy("image")[0], int(result.as_numpy("seed")[0][0])

    def embedding_model(self) -> EmbeddingModel:
        """The model Triton serves now (asks clip_text with a probe text)."""
        return self.embed_texts(["a product"])[1]

    def label_accuracy(self) -> dict[str, float | None]:
        """Per zero-shot label attribute, the accuracy measured for the served model (empty: none measured)."""
        result = self._request("clip_text", "text", ["a product"])
        return json.loads(result.as_numpy("model_info")[0][0]).get("label_accuracy", {})

    def models(self, repository: Path) -> list[dict]:
        """Whether each model configured in `repository` is ready.

        Triton's repository index would list them, but it shares the model-control endpoints' admin key
        (atelier/triton_server.py), which clients such as the dashboard do not hold.
        """
        names = sorted(config.parent.name for config in Path(repository).glob("*/config.pbtxt"))
        try:
            return [{"name": name, "state": "READY" if self._client.is_model_ready(name) else "UNAVAILABLE"}
                    for name in names]
        except InferenceServerException as error:
            raise AtelierError(f"Triton is not reachable at {self.url} ({error.message()})") from error

    def is_ready(self) -> bool:
        try:
            return self._client.is_server_ready()
        except InferenceServerException:
            return False


def _requests(items: list, weight: Callable[[bytes], int], budget: int) -> Iterator[list]:
    """`items` in order, split into runs of at most MAX_BATCH whose weights sum to at most `budget` (where set)."""
    run, total = [], 0
    for item in items:
        cost = weight(item)
        if run and (len(run) == MAX_BATCH or (budget and total + cost > budget)):
            yield run
            run, total = [], 0
        run.append(item)
        total += cost
    if run:
        yield run
