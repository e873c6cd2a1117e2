"""`atelier up`: the whole demo on embedded defaults, from nothing to a dashboard in the browser.

1. tiny profile: draw the demo catalog, train the tiny CLIP on it (`atelier train clip`, cached
   in $ATELIER_HOME/models) and export that model, unless the repository already serves it;
   export the tiny generation pipelines: those trained on the demo catalog where their training has
   finished, the random-weight ones otherwise
2. start the embedded Triton server
3. start Milvus Lite's gRPC server (unless ATELIER_MILVUS_URI names a server already)
4. ingest the demo catalog if the collection is empty, or re-ingest it if it holds only demo
   products embedded by another model
5. start the Streamlit dashboard; train the generators not trained yet in the background
   (`atelier train generators --serve`), each exported and loaded into Triton as soon as it is trained;
   wait for Ctrl-C and stop everything
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from atelier import processes
from atelier.catalog_store import CatalogStore
from atelier.config import AtelierError, Settings
from atelier.diffusion.exported import served_record
from atelier.families import FAMILIES, PIPELINES
from atelier.model_repository import clip_record, missing_exports
from atelier.ports import port_in_use
from atelier.trend_store import TrendStore
from atelier.triton_client import TritonClient
from atelier.triton_server import (
    EmbeddedTriton,
    TritonPorts,
    admin_key,
    admin_key_hint,
    load_models,
)

if TYPE_CHECKING:
    from models.clip import ClipBundle


def say(message: str) -> None:
    print(f"[atelier up] {message}", file=sys.stderr, flush=True)


def export_measured_clip(bundle: ClipBundle, repository: Path, catalog_csv: Path) -> dict:
    """Export a CLIP trained on `catalog_csv` with the zero-shot label accuracy
    measured on the catalog's held-out products, so that the dashboard shows only the labels it reads."""
    from evaluation.labels import ClipBundleEmbedder, evaluate_labels, measured_accuracy
    from export.clip import export_clip

    say("measuring its zero-shot labels on the held-out products ...")
    accuracy = measured_accuracy(evaluate_labels(catalog_csv, ClipBundleEmbedder(bundle)))
    say("exporting it into the model repository ...")
    return export_clip(bundle, repository, accuracy)


def ensure_demo_model(settings: Settings, demo_csv: Path) -> None:
    """The tiny profile serves a CLIP trained on the demo catalog; the full profile must be exported by hand."""
    repository = settings.model_repository
    if settings.profile != "tiny":
        if missing_exports(repository):
            raise AtelierError(f"run `atelier export --profile {settings.profile}` first")
        return
    from training.clip_metric import TrainConfig, train_clip

    checkpoint = train_clip(demo_csv, settings.home / "models" / f"clip-{demo_csv.parent.name}", TrainConfig())
    say(f"the tiny CLIP trained on the demo catalog: {checkpoint}")  # trained on the first start, then cached
    from models.clip import load_clip

    bundle = load_clip("tiny", checkpoint=checkpoint)
    # Compared by weights, not by path: a retrained checkpoint (say another --demo-count) keeps its path.
    exported = clip_record(repository)
    if missing_exports(repository) or exported.get("embedding_model") != bundle.embedding_model \
            or not exported.get("label_accuracy"):
        export_measured_clip(bundle, repository, demo_csv)
    ensure_generation_models(settings)


def ensure_generation_models(settings: Settings) -> None:
    """Each tiny generation model exported with the weights trained on the demo catalog where their training has
    finished (settings.generators_dir), with random weights where it has not (the background training serves
    them later: serve_trained)."""
    from export.diffusion import export_is_current, export_pipelines
    from training.train_generators import trained_folders

    repository, trained = settings.model_repository, trained_folders(settings.generators_dir)
    missing = missing_exports(repository)
    for kind in PIPELINES:
        source = str(trained[kind]) if kind in trained else None
        record = served_record(repository, kind)
        if not record or record.build.source != source or any(
                name in FAMILIES[kind].served + FAMILIES[kind].networks for name in missing) or (
                source and not export_is_current(repository, kind)):  # trained again since its export
            say(f"exporting the tiny {kind} model ({'trained on the demo catalog' if source else 'random weights'})")
            export_pipelines(repository, "tiny", (kind,), {kind: source} if source else None)


def serve_trained(kind: str, folder: Path, settings: Settings) -> None:
    """Export a freshly trained generation model into the repository and have the running Triton load it."""
    from export.diffusion import export_pipelines

    record = export_pipelines(settings.model_repository, "tiny", (kind,), {kind: str(folder)})[kind]
    key, _ = admin_key(settings)
    load_models(settings.triton_url, [*record.networks, kind], key)
    say(f"{kind} now serves the weights trained on the demo catalog")


def generator_training(settings: Settings, env: dict[str, str], log_path: Path) -> processes.Service | None:
    """The background process that trains the generators not trained yet and serves each when it is; None if
    all are trained."""
    from training.train_generators import KINDS, trained_folders

    if settings.profile != "tiny" or len(trained_folders(settings.generators_dir)) == len(KINDS):
        return None
    command = [sys.executable, "-m", "cli", "train", "generators", "--serve"]
    return processes.Service("generator-training", command, 0, log_path, env=env, probe=lambda: True)


def ensure_catalog(settings: Settings, triton: TritonClient, store: CatalogStore, demo_csv: Path) -> None:
    from ingest.pipeline import ingest_catalog

    recorded, served = store.recorded_model(), triton.embedding_model()
    stale = None
    if recorded is not None and recorded != served:
        stale = f"was embedded by {recorded}; re-ingesting it with {served}"
    elif recorded is not None and not store.is_current():
        stale = "predates fashion labels and image fingerprints; ingesting it again"
    if stale:
        if store.count() != store.count(f'image_uri like "{settings.demo_catalog_dir}%"'):
            store.check_model(served)  # not only demo products: refuse, with the message naming both models
            store.create(served)  # or the one saying it predates the labels and fingerprints
        say(f"the demo collection {stale} ...")
        store.drop()
    if store.count() > 0:
        say(f"collection {store.collection!r} has {store.count()} products")
        return
    say("ingesting the demo catalog through Triton into Milvus ...")
    report = ingest_catalog(demo_csv, triton, store, settings.home / "rejects" / "demo-catalog.jsonl")
    say(f"ingested {report.upserted} products ({report.rejected} rejected)")


def ensure_trends(settings: Settings, triton: TritonClient, store: TrendStore) -> None:
    """The demo's trend posts, imported once, so the Trends page has something to show."""
    recorded = store.recorded_model()
    if recorded is not None and recorded != triton.embedding_model():
        say(f"the trends collection was embedded by {recorded}; not importing the demo posts into it")
        return
    if store.count() > 0:
        say(f"trends collection {store.collection!r} has {store.count()} posts")
        return
    from atelier.demo_trends import write_trend_export
    from atelier.labels import ZeroShotLabeler
    from ingest.trends_import import import_trend_posts

    say("importing the demo trend posts ...")
    report = import_trend_posts(write_trend_export(settings.home / "demo-trends"), triton, store,
                                settings.home / "rejects" / "demo-trends.jsonl", labeler=ZeroShotLabeler(triton))
    say(f"imported {report.upserted} trend posts ({report.rejected} rejected)")


def run_stack(settings: Settings, ports: TritonPorts, dashboard_port: int, milvus_port: int,
              demo_count: int) -> None:
    logs = settings.home / "logs"
    for port in (dashboard_port, milvus_port):
        if port_in_use(port):
            raise AtelierError(f"port {port} is already in use; pick another (--port / --milvus-port)")
    from atelier.demo_catalog import write_catalog

    demo_csv = write_catalog(settings.demo_catalog_dir, count=demo_count)  # drawn on the first start, with a bar
    say(f"demo catalog: {demo_count} products in {demo_csv.parent}")
    ensure_demo_model(settings, demo_csv)
    services: list = []
    training = None
    processes.stop_on_signals()
    try:
        key, key_location = admin_key(settings)
        triton = EmbeddedTriton(settings.model_repository, settings.home / "triton-runtime", ports,
                                log_path=logs / "tritonserver.log", admin_key=key)
        say("starting Triton ...")
        services.append(triton)  # listed before starting, so an interrupted start is stopped too
        triton.start()
        milvus_uri = os.environ.get("ATELIER_MILVUS_URI", "").strip() or str(settings.milvus_lite_file)
        if "://" not in milvus_uri:  # a Lite file: serve it so the dashboard, CLI and ingest can share it
            milvus = processes.milvus_lite_server(Path(milvus_uri), milvus_port, logs / "milvus.log")
            say("starting Milvus Lite ...")
            services.append(milvus)
            milvus.start()
            milvus_uri = f"http://127.0.0.1:{milvus_port}"
            settings.milvus_endpoint_file.write_text(milvus_uri)  # other `atelier` commands use it meanwhile
        client = TritonClient(triton.grpc_url)
        ensure_catalog(settings, client, CatalogStore(milvus_uri, settings.collection), demo_csv)
        ensure_trends(settings, client, TrendStore(milvus_uri, settings.trends_collection))
        env = {"ATELIER_TRITON_URL": triton.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
               "ATELIER_COLLECTION": settings.collection, "ATELIER_TRENDS_COLLECTION": settings.trends_collection,
               "ATELIER_HOME": str(settings.home)}
        dashboard = processes.dashboard(dashboard_port, env, logs / "dashboard.log")
        services.append(dashboard)
        dashboard.start()
        training = generator_training(settings, env, logs / "generator-training.log")
        if training is not None:
            say("training the tiny generators on the demo catalog in the background; each is served as soon as it "
                f"is trained (progress on the dashboard, log: {training.log_path})")
            training.start()
        say(f"dashboard: http://localhost:{dashboard_port}   (Triton gRPC {triton.grpc_url}, Milvus {milvus_uri})")
        say(admin_key_hint(key_location))
        say("Ctrl-C stops everything")
        while all(service.running() for service in services):
            time.sleep(1)
            if training is not None and not training.running():
                code, training = training.process.returncode, None
                say("the generators are trained and served" if code == 0 else
                    f"the generator training stopped (exit code {code}); see {logs / 'generator-training.log'}")
        stopped = [service.name for service in services if not service.running()]
        raise AtelierError(f"{', '.join(stopped)} stopped unexpectedly; see the logs in {logs}")
    except KeyboardInterrupt:
        pass
    finally:
        for service in reversed([*services, *([training] if training is not None else [])]):
            service.stop()
        settings.milvus_endpoint_file.unlink(missing_ok=True)
        say("stopped")
