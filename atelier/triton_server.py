"""Runs the `tritonserver` binary shipped in the nvidia-pytriton wheel against our model repository.

The wheel's server tree is read-only package data, so it is laid out once in a writable runtime
folder: the binary, the Python backend with the stub for this interpreter, and our Python-based
`onnxruntime` backend (atelier/triton_backends/onnxruntime/model.py).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tritonclient.http as triton_http

from atelier.config import AtelierError

BACKENDS_SOURCE = Path(__file__).parent / "triton_backends"


@dataclass(frozen=True)
class TritonPorts:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002


def _pytriton_paths() -> tuple[Path, Path]:
    try:
        import pytriton
    except ImportError as error:
        raise AtelierError("nvidia-pytriton is not installed; run `make install`") from error
    package = Path(pytriton.__file__).parent
    return package / "tritonserver", package.parent / "nvidia_pytriton.libs"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def missing_exports(repository: Path) -> list[str]:
    """Models in the repository whose backend needs a weights file that is not there yet."""
    missing = []
    for config in sorted(repository.glob("*/config.pbtxt")):
        text = config.read_text()
        if re.search(r'backend:\s*"(onnxruntime|tensorrt)"', text) or "platform:" in text:
            versions = [p for p in config.parent.iterdir() if p.is_dir() and p.name.isdigit()]
            if not any(any(v.glob("model.*")) for v in versions):
                missing.append(config.parent.name)
        elif 'backend: "python"' in text and not list(config.parent.glob("*/export.json")):
            missing.append(config.parent.name)
    return missing


def prepare_runtime(runtime_dir: Path) -> Path:
    """Lay out tritonserver and its backends in `runtime_dir`; returns the server binary."""
    server_tree, _ = _pytriton_paths()
    if not (runtime_dir / "bin" / "tritonserver").exists():
        runtime_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = runtime_dir.with_name(runtime_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(server_tree, staging)
        stub = staging / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
        shutil.copy2(stub / "triton_python_backend_stub", staging / "backends" / "python")
        staging.rename(runtime_dir)
    # Our backends are refreshed every start so edits to them take effect.
    shutil.copytree(BACKENDS_SOURCE, runtime_dir / "backends", dirs_exist_ok=True)
    return runtime_dir / "bin" / "tritonserver"


class EmbeddedTriton:
    """A tritonserver process: start() waits until every model is ready, stop() shuts it down."""

    def __init__(
        self,
        repository: Path,
        runtime_dir: Path,
        ports: TritonPorts = TritonPorts(),
        log_path: Path | None = None,
    ) -> None:
        self.repository = Path(repository).resolve()
        self.runtime_dir = Path(runtime_dir)
        self.ports = ports
        self.log_path = log_path or self.runtime_dir.parent / "tritonserver.log"
        self.process: subprocess.Popen | None = None

    @property
    def grpc_url(self) -> str:
        return f"localhost:{self.ports.grpc}"

    def _check_can_start(self) -> None:
        if not self.repository.is_dir():
            raise AtelierError(f"model repository {self.repository} does not exist")
        missing = missing_exports(self.repository)
        if missing:
            raise AtelierError(
                f"model repository {self.repository} is not exported yet (missing: {', '.join(missing)}); "
                "run `atelier export --profile tiny` first"
            )
        for name, port in (("HTTP", self.ports.http), ("gRPC", self.ports.grpc), ("metrics", self.ports.metrics)):
            if port_in_use(port):
                raise AtelierError(
                    f"{name} port {port} is already in use; stop what holds it or pick another port "
                    f"(--{name.lower()}-port)"
                )

    def start(self, timeout: float = 180.0) -> None:
        self._check_can_start()
        binary = prepare_runtime(self.runtime_dir)
        _, libs = _pytriton_paths()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(libs), env.get("LD_LIBRARY_PATH")]))
        # The Python backend stub runs `python` from PATH, so this interpreter's bin goes first.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        command = [
            str(binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={self.runtime_dir / 'backends'}",
            f"--http-port={self.ports.http}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-port={self.ports.metrics}",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--log-verbose=0",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the server writes to it for its whole life
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        client = triton_http.InferenceServerClient(f"localhost:{self.ports.http}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise AtelierError(f"tritonserver exited with code {self.process.returncode}:\n{tail}")
            try:
                if client.is_server_ready():
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.5)
        self.stop()
        raise AtelierError(f"tritonserver was not ready after {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> EmbeddedTriton:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
