"""`atelier up`: the whole demo on embedded defaults, from nothing to a dashboard in the browser.

1. export the tiny profile into the model repository if it is not there yet
2. start the embedded Triton server
3. start Milvus Lite's gRPC server (unless ATELIER_MILVUS_URI names a server already)
4. draw and ingest the demo catalog if the collection is empty
5. start the Streamlit dashboard, then wait for Ctrl-C and stop everything
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from atelier import processes
from atelier.catalog_store import CatalogStore
from atelier.config import AtelierError, Settings
from atelier.triton_client import TritonClient
from atelier.triton_server import EmbeddedTriton, TritonPorts, missing_exports


def say(message: str) -> None:
    print(f"[atelier up] {message}", file=sys.stderr, flush=True)


def ensure_exported(repository: Path) -> None:
    missing = missing_exports(repository)
    if missing:
        from export.clip import export_clip, load_clip

        say(f"exporting the tiny profile ({', '.join(missing)} missing) ...")
        export_clip(load_clip("tiny"), repository)


def ensure_catalog(settings: Settings, triton: TritonClient, store: CatalogStore, count: int) -> None:
    if store.count() > 0:
        say(f"collection {store.collection!r} has {store.count()} products")
        return
    from atelier.demo_catalog import write_catalog
    from ingest.pipeline import ingest_catalog

    say(f"drawing a demo catalog of {count} products ...")
    csv_path = write_catalog(settings.demo_catalog_dir, count=count)
    say("ingesting it through Triton into Milvus ...")
    report = ingest_catalog(csv_path, triton, store, settings.home / "rejects" / "demo-catalog.jsonl")
    say(f"ingested {report.upserted} products ({report.rejected} rejected)")


def run_stack(settings: Settings, ports: TritonPorts, dashboard_port: int, milvus_port: int,
              demo_count: int) -> None:
    logs = settings.home / "logs"
    for port in (dashboard_port, milvus_port):
        if processes.port_in_use(port):
            raise AtelierError(f"port {port} is already in use; pick another (--port / --milvus-port)")
    ensure_exported(settings.model_repository)
    services: list = []
    try:
        triton = EmbeddedTriton(settings.model_repository, settings.home / "triton-runtime", ports,
                                log_path=logs / "tritonserver.log")
        say("starting Triton ...")
        triton.start()
        services.append(triton)
        milvus_uri = os.environ.get("ATELIER_MILVUS_URI", "").strip() or str(settings.milvus_lite_file)
        if "://" not in milvus_uri:  # a Lite file: serve it so the dashboard, CLI and ingest can share it
            milvus = processes.milvus_lite_server(Path(milvus_uri), milvus_port, logs / "milvus.log")
            say("starting Milvus Lite ...")
            milvus.start()
            services.append(milvus)
            milvus_uri = f"http://127.0.0.1:{milvus_port}"
            settings.milvus_endpoint_file.write_text(milvus_uri)  # other `atelier` commands use it meanwhile
        client = TritonClient(triton.grpc_url)
        ensure_catalog(settings, client, CatalogStore(milvus_uri, settings.collection), demo_count)
        env = {"ATELIER_TRITON_URL": triton.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
               "ATELIER_COLLECTION": settings.collection, "ATELIER_HOME": str(settings.home)}
        dashboard = processes.dashboard(dashboard_port, env, logs / "dashboard.log")
        dashboard.start()
        services.append(dashboard)
        say(f"dashboard: http://localhost:{dashboard_port}   (Triton gRPC {triton.grpc_url}, Milvus {milvus_uri})")
        say("Ctrl-C stops everything")
        signal.signal(signal.SIGTERM, processes.interrupt)
        while all(service.running() for service in services):
            time.sleep(1)
        stopped = [service.name for service in services if not service.running()]
        raise AtelierError(f"{', '.join(stopped)} stopped unexpectedly; see the logs in {logs}")
    except KeyboardInterrupt:
        pass
    finally:
        for service in reversed(services):
            service.stop()
        settings.milvus_endpoint_file.unlink(missing_ok=True)
        say("stopped")
