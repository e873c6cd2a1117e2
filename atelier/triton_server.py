"""Runs the `tritonserver` binary shipped in the nvidia-pytriton wheel against our model repository.

The wheel's server tree is read-only package data, so it is laid out once in a writable runtime
folder: the binary, the Python backend with the stub for this interpreter, and our Python-based
`onnxruntime` backend (atelier/triton_backends/onnxruntime/model.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import tritonclient.http as triton_http

from atelier.config import AtelierError, Settings
from atelier.model_repository import missing_exports, tensorrt_models
from atelier.ports import port_in_use
from atelier.processes import Service

BACKENDS_SOURCE = Path(__file__).parent / "triton_backends"
ADMIN_KEY_HEADER = "admin-key"  # HTTP; gRPC clients send it as metadata GRPC_ADMIN_KEY_HEADER (Triton's prefix)
GRPC_ADMIN_KEY_HEADER = f"triton-grpc-protocol-{ADMIN_KEY_HEADER}"
# Loading/unloading models and registering shared memory, plus the trace and log settings (which change the
# server's state). Health, metadata, model config, statistics and inference stay open.
RESTRICTED_ENDPOINTS = "model-repository,shared-memory,trace,logging"
ADMIN_KEY_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,}")  # goes into a flag and an HTTP header as it is
# ONNX files up to this size are parsed by the start-up check (all of the tiny profile's, in about a second).
PARSED_ONNX_BYTES = 256 * 2**20
# Triton's log line for a model that did not load: the reason runs to the first escaped line break or the end quote.
LOAD_FAILURE = re.compile(r"failed to load '([^']+)' version \d+: (?:Internal: )?(.*?)(?:\\n|\"$)", re.MULTILINE)


def restricted_endpoint_flags(key: str) -> list[str]:
    """The tritonserver options that admit the restricted endpoints only with the header `admin-key: <key>`.

    docker-compose.yml and deploy/k8s pass the same flags (tests/unit/test_compose.py compares them).
    """
    return [f"--grpc-restricted-protocol={RESTRICTED_ENDPOINTS}:{ADMIN_KEY_HEADER}={key}",
            f"--http-restricted-api={RESTRICTED_ENDPOINTS}:{ADMIN_KEY_HEADER}={key}"]


def admin_key(settings: Settings) -> tuple[str, str]:
    """The embedded server's admin key and where it is kept (for messages).

    ATELIER_TRITON_ADMIN_KEY when set; otherwise a random key made once per home in a file only its owner
    can read, so `atelier serve` restarts with the same key.
    """
    if settings.triton_admin_key:
        key, where = settings.triton_admin_key, "$ATELIER_TRITON_ADMIN_KEY"
    else:
        path = settings.triton_admin_key_file
        where = str(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_name(f".{path.name}.{os.getpid()}")
            with os.fdopen(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
                file.write(secrets.token_urlsafe(32) + "\n")
            try:
                os.link(staging, path)  # never replaces a key another process wrote meanwhile
            except FileExistsError:
                pass
            finally:
                staging.unlink()
        if path.stat().st_mode & 0o077:
            raise AtelierError(f"{path} can be read by other users; run `chmod 600 {path}`")
        key = path.read_text().strip()
    if not ADMIN_KEY_PATTERN.fullmatch(key):
        raise AtelierError(f"the Triton admin key ({where}) must be at least 16 letters, digits or . _ ~ -")
    return key, where


def admin_key_hint(where: str) -> str:
    """What `atelier serve` and `atelier up` print about the key once Triton is up."""
    return (f"Triton's model control and shared memory need the header {ADMIN_KEY_HEADER} (gRPC: "
            f"{GRPC_ADMIN_KEY_HEADER}) set to the key in {where}")


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


def damaged_exports(repository: Path) -> list[str]:
    """What the start-up check can see is broken in an exported repository, without loading any model: an ONNX file
    that does not parse (truncated, overwritten), a generation model missing a folder or a network its export.json
    names. Triton would find these only after loading everything else, a minute later."""
    import onnx
    from google.protobuf.message import DecodeError

    from atelier.diffusion.exported import PipelineRecord

    found = []
    for path in sorted(repository.glob("*/[0-9]*/model.onnx")):
        if path.stat().st_size > PARSED_ONNX_BYTES:
            continue  # the full profile's big networks: reading them twice would slow every start; Triton will
        try:
            onnx.load(str(path), load_external_data=False)
        except (DecodeError, ValueError) as error:
            found.append(f"{path} does not parse as ONNX ({error}); export it again")
    for record in sorted(repository.glob("*/[0-9]*/export.json")):
        data = json.loads(record.read_text())
        if "pipeline" not in data:
            continue
        spec = PipelineRecord.from_json(data)
        found += [f"{record.parent / name} is missing" for name in spec.folders()
                  if not (record.parent / name).is_dir()]
        found += [f"{repository / name} is missing (named by {record})" for name in spec.networks
                  if not (repository / name / "config.pbtxt").exists()]
    return found


def load_failures(log: str) -> dict[str, str]:
    """The models Triton's log says failed to load, each with the first line of its reason."""
    return {name: reason if len(reason) <= 300 else reason[:297] + "..." for name, reason in LOAD_FAILURE.findall(log)}


def load_models(grpc_url: str, names: list[str], key: str) -> None:
    """(Re)load `names` in this order from the server's repository (explicit model control; the admin key opens it).

    A model already loaded is loaded again from its files: list the networks before the Python model that calls
    them. Triton keeps serving the old version until the new one is ready.
    """
    import tritonclient.grpc as triton_grpc

    client = triton_grpc.InferenceServerClient(grpc_url)
    name = ""
    try:
        for name in names:
            client.load_model(name, headers={GRPC_ADMIN_KEY_HEADER: key})
    except triton_grpc.InferenceServerException as error:
        raise AtelierError(f"Triton at {grpc_url} could not load {name}: {error.message()}") from error
    finally:
        client.close()


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

    name = "tritonserver"

    def __init__(self, repository: Path, runtime_dir: Path, ports: TritonPorts = TritonPorts(),
                 log_path: Path | None = None, admin_key: str | None = None) -> None:
        """`admin_key` opens the restricted endpoints; None makes a random one that only `self.admin_key` knows."""
        self.admin_key = admin_key or secrets.token_urlsafe(32)
        self.repository = Path(repository).resolve()
        self.runtime_dir = Path(runtime_dir)
        self.ports = ports
        self.log_path = log_path or self.runtime_dir.parent / "tritonserver.log"
        self.service: Service | None = None

    @property
    def grpc_url(self) -> str:
        return f"localhost:{self.ports.grpc}"

    def _check_can_start(self) -> None:
        if not self.repository.is_dir():
            raise AtelierError(f"model repository {self.repository} does not exist")
        engines = tensorrt_models(self.repository)
        if engines:
            raise AtelierError(
                f"{', '.join(engines)} are TensorRT engines (`atelier export --trt`), which only NGC Triton on a "
                "GPU serves (docker-compose.yml); for the embedded server, export those families again without --trt"
            )
        missing = missing_exports(self.repository)
        if missing:
            raise AtelierError(
                f"model repository {self.repository} is not exported yet (missing: {', '.join(missing)}); "
                "run `atelier export --profile tiny` first"
            )
        damaged = damaged_exports(self.repository)
        if damaged:
            raise AtelierError("the model repository is damaged:\n" + "\n".join(f"  {line}" for line in damaged)
                               + "\nexport the models concerned again (`atelier export --only FAMILY`)")
        for name, port in (("http", self.ports.http), ("grpc", self.ports.grpc), ("metrics", self.ports.metrics)):
            if port_in_use(port):
                raise AtelierError(f"{name} port {port} is already in use; stop what holds it or pick "
                                   f"another with --{name}-port")

    def start(self, timeout: float = 180.0) -> None:
        self._check_can_start()
        binary = prepare_runtime(self.runtime_dir)
        _, libs = _pytriton_paths()
        # The stub embeds whichever libpython3.X the loader finds; it must be this interpreter's own, or
        # extension modules built for it (ssl, which diffusers imports) fail with undefined symbols.
        python_libs = sysconfig.get_config_var("LIBDIR") if sysconfig.get_config_var("INSTSONAME") else None
        env = {
            "LD_LIBRARY_PATH": os.pathsep.join(
                filter(None, [python_libs, str(libs), os.environ.get("LD_LIBRARY_PATH")])
            ),
            # The Python backend stub runs `python` from PATH, so this interpreter's bin goes first.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
        command = [
            str(binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={self.runtime_dir / 'backends'}",
            f"--http-port={self.ports.http}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-port={self.ports.metrics}",
            # Explicit model control, every model loaded at start: a model exported again later (the generators
            # the demo trains while it runs) is served by reloading it (load_models), without a restart.
            "--model-control-mode=explicit",
            "--load-model=*",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--exit-timeout-secs=10",
            "--log-verbose=0",
            *restricted_endpoint_flags(self.admin_key),  # visible in `ps` to local users, like any argv
        ]
        client = triton_http.InferenceServerClient(f"localhost:{self.ports.http}")
        self.service = Service("tritonserver", command, self.ports.http, self.log_path, env=env,
                               probe=client.is_server_ready)
        try:
            self.service.start(timeout)
        except AtelierError:
            failed = load_failures(self.log_path.read_text(errors="replace")) if self.log_path.exists() else {}
            if not failed:
                raise
            reasons = "\n".join(f"  {name}: {reason}" for name, reason in sorted(failed.items()))
            raise AtelierError(f"Triton could not load {len(failed)} model(s) from {self.repository} (log: "
                               f"{self.log_path}):\n{reasons}\nexport them again (`atelier export`, with --only "
                               "for their families) or restore the repository") from None
        finally:
            client.close()  # an open keep-alive connection would hold up shutdown until the exit timeout

    def running(self) -> bool:
        return self.service is not None and self.service.running()


    def stop(self) -> None:
        if self.service is not None:
            self.service.stop(timeout=30.0)

    def __enter__(self) -> EmbeddedTriton:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
