"""The embedded Triton admits model control and shared memory only with its admin key; inference stays open."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from atelier.triton_client import TritonClient
from atelier.triton_server import ADMIN_KEY_HEADER, GRPC_ADMIN_KEY_HEADER, EmbeddedTriton

pytestmark = pytest.mark.integration


@pytest.fixture(params=["grpc", "http"])
def client(request, triton_server: EmbeddedTriton):
    if request.param == "grpc":
        client = triton_grpc.InferenceServerClient(triton_server.grpc_url)
    else:
        client = triton_http.InferenceServerClient(f"localhost:{triton_server.ports.http}")
    yield client
    client.close()


def admin_calls(client) -> dict:
    """Restricted requests, each a function of the request headers."""
    return {
        "repository index": lambda headers: client.get_model_repository_index(headers=headers),
        "load model": lambda headers: client.load_model("clip_text", headers=headers),
        "shared-memory status": lambda headers: client.get_system_shared_memory_status(headers=headers),
    }


def test_model_control_and_shared_memory_are_refused_without_the_key(client) -> None:
    for name, call in admin_calls(client).items():
        for headers in (None, {ADMIN_KEY_HEADER: "not-the-key"}, {GRPC_ADMIN_KEY_HEADER: "not-the-key"}):
            with pytest.raises(InferenceServerException) as refused:
                call(headers)
            message = refused.value.message()
            assert "restricted" in message and ADMIN_KEY_HEADER in message, (name, message)


def test_the_admin_key_opens_them(client, triton_server: EmbeddedTriton) -> None:
    calls = admin_calls(client)
    header = GRPC_ADMIN_KEY_HEADER if isinstance(client, triton_grpc.InferenceServerClient) else ADMIN_KEY_HEADER
    headers = {header: triton_server.admin_key}
    index = calls["repository index"](headers)
    names = {model.name for model in index.models} if hasattr(index, "models") else {m["name"] for m in index}
    assert "clip_text" in names
    calls["shared-memory status"](headers)
    # Past the key check, a load reloads the model from its files (explicit model control), and it is ready again.
    calls["load model"](headers)
    assert client.is_model_ready("clip_text")


def test_inference_and_readiness_need_no_key(client) -> None:
    module = triton_grpc if isinstance(client, triton_grpc.InferenceServerClient) else triton_http
    text = module.InferInput("text", [1, 1], "BYTES")
    text.set_data_from_numpy(np.array([[b"a red striped shirt"]], dtype=np.object_))
    embedding = client.infer("clip_text", [text]).as_numpy("embedding")
    assert embedding.shape[0] == 1 and np.isclose(np.linalg.norm(embedding), 1.0, atol=1e-4)
    assert client.is_model_ready("clip_text") and client.is_server_ready()


def test_the_system_page_lists_the_models_without_the_key(triton: TritonClient, triton_server: EmbeddedTriton) -> None:
    models = triton.models(triton_server.repository)
    assert models and all(model["state"] == "READY" for model in models)
    assert triton.models(triton_server.repository / "missing") == []
