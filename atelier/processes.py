"""Background services started by `atelier up` and the tests: Milvus Lite's gRPC server and the dashboard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from atelier.config import MILVUS_KEEPALIVE, REPO_ROOT, AtelierError
from atelier.ports import port_in_use


def interrupt(*_: object) -> None:
    """A signal handler that stops the foreground command as Ctrl-C does."""
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """SIGINT and SIGTERM stop the command. SIGINT is set explicitly: a process started in the background by
    a non-interactive shell inherits it ignored, and Python then raises no KeyboardInterrupt for it."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, interrupt)


class Service:
    """A child process that is ready when `probe()` says so, stopped with SIGINT then SIGKILL."""

    def __init__(self, name: str, command: list[str], port: int, log_path: Path,
                 env: dict[str, str] | None = None, probe: Callable[[], bool] | None = None) -> None:
        self.name, self.command, self.port, self.log_path = name, command, port, log_path
        self.env = {**os.environ, **(env or {})}
        self.probe = probe or (lambda: port_in_use(port))
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        if port_in_use(self.port):
            raise AtelierError(f"{self.name}: port {self.port} is already in use; pick another port")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child writes to it for its whole life
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                        cwd=REPO_ROOT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise AtelierError(f"{self.name} exited with code {self.process.returncode}:\n{tail}")
            try:
                if self.probe():
                    return
            except Exception:  # not answering yet
                pass
            time.sleep(0.5)
        self.stop()
        raise AtelierError(f"{self.name} did not become ready in {timeout:.0f}s; see {self.log_path}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if not self.running():
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def milvus_lite_server(data_dir: Path, port: int, log_path: Path) -> Service:
    """Milvus Lite behind gRPC, so several processes share one database (a .db opens in one process).

    `data_dir` is the `.db` path itself: Milvus Lite uses that folder for a local `MilvusClient(path)`
    too, so the same data is seen with or without the server.
    """

    def probe() -> bool:
        from pymilvus import MilvusClient

        # pymilvus shares one channel per address: the probe opens it as atelier.catalog_store.connect does.
        MilvusClient(f"http://127.0.0.1:{port}", grpc_options=MILVUS_KEEPALIVE).list_collections()
        return True

    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir),
               "--host", "127.0.0.1", "--port", str(port)]
    return Service("milvus-lite", command, port, log_path, probe=probe)


def dashboard(port: int, env: dict[str, str], log_path: Path) -> Service:
    command = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
    return Service("dashboard", command, port, log_path, env=env)


def visible_gpus() -> list[str]:
    """The names of the NVIDIA GPUs this machine shows (`nvidia-smi`); none where it has no driver."""
    try:
        result = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]
