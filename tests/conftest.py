"""Shared fixtures: the real embedded Triton server, a real Milvus Lite server, the demo catalog.

Everything is session-scoped and lives in temporary folders: the committed model repository is
copied and the tiny profile exported into the copy, so tests never touch the working tree.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.catalog_store import CatalogStore
from atelier.config import REPO_ROOT
from atelier.ports import free_port
from atelier.processes import Service, milvus_lite_server
from atelier.triton_client import TritonClient
from atelier.triton_server import EmbeddedTriton, TritonPorts
from ingest.fetch import ImageSources

DEMO_COUNT = 150


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--demo-home", type=Path, default=None,
                     help="an ATELIER_HOME where `make demo` has trained the generators (.atelier): runs the tests "
                          "marked trained_generators against them; without it they are deselected")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of what the trained generators draw need them trained (about an hour on 2 cores, more than CI has):
    they run with --demo-home, and are deselected (not skipped, not counted) without it."""
    if config.getoption("--demo-home"):
        return
    deselected = [item for item in items if item.get_closest_marker("trained_generators")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def copy_repository(destination: Path) -> Path:
    """The committed model repository (configs and Python models only), unexported."""
    return Path(shutil.copytree(REPO_ROOT / "model_repository", destination,
                                ignore=shutil.ignore_patterns("*.onnx", "*.json", "__pycache__", "tryon_warp",
                                                              "tryon_parser")))


def clip_repository(destination: Path) -> Path:
    """A model repository holding only the CLIP models' configs, unexported."""
    repository = copy_repository(destination)
    for folder in repository.iterdir():
        if folder.is_dir() and not folder.name.startswith("clip_"):
            shutil.rmtree(folder)
    return repository


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from export.clip import export_clip
    from export.diffusion import export_pipelines
    from models.clip import load_clip

    repository = copy_repository(tmp_path_factory.mktemp("export") / "model_repository")
    export_clip(load_clip("tiny"), repository)
    export_pipelines(repository, "tiny")
    return repository


@pytest.fixture(scope="session")
def triton_server(model_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedTriton]:
    work = tmp_path_factory.mktemp("triton")
    server = EmbeddedTriton(model_repository, work / "runtime", TritonPorts(free_port(), free_port(), free_port()))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def triton(triton_server: EmbeddedTriton) -> TritonClient:
    return TritonClient(triton_server.grpc_url)


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("milvus")
    port = free_port()
    server: Service = milvus_lite_server(work / "data", port, work / "milvus.log")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from atelier.demo_catalog import write_catalog

    return write_catalog(tmp_path_factory.mktemp("demo"), count=DEMO_COUNT, progress=False)


@pytest.fixture(scope="session")
def demo_store(triton: TritonClient, milvus_uri: str, demo_csv: Path, tmp_path_factory) -> CatalogStore:
    """The demo catalog ingested into the `demo` collection."""
    from ingest.pipeline import ingest_catalog

    store = CatalogStore(milvus_uri, "demo")
    report = ingest_catalog(demo_csv, triton, store, tmp_path_factory.mktemp("rejects") / "r.jsonl", progress=False)
    assert report.upserted == DEMO_COUNT and report.rejected == 0
    return store


@pytest.fixture(scope="session")
def trained_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The 2,000-product demo catalog and the tiny CLIP trained on it as `make demo` trains it (about 6 minutes
    on 2 cores): (catalog, checkpoint). The evaluations and the garment browser tests measure this model."""
    from atelier.demo_catalog import write_catalog
    from training.clip_metric import TrainConfig, train_clip

    work = tmp_path_factory.mktemp("trained-clip")
    catalog = write_catalog(work / "catalog", progress=False)
    return catalog, train_clip(catalog, work / "model", TrainConfig(), progress=False)


@pytest.fixture(scope="session")
def trained_triton(trained_clip, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedTriton]:
    """Triton serving the demo's trained CLIP (`trained_clip`) alone, exported as `atelier up` exports it (with its
    measured label accuracy). The untrained tiny CLIP that `triton` serves tells products apart hardly at all (its
    image embeddings of demo products have a mean cosine of 0.9999), so tests of what a real model does use this."""
    from cli.stack import export_measured_clip
    from models.clip import load_clip

    catalog, checkpoint = trained_clip
    work = tmp_path_factory.mktemp("trained-triton")
    repository = clip_repository(work / "model_repository")
    export_measured_clip(load_clip("tiny", checkpoint=checkpoint), repository, catalog)
    server = EmbeddedTriton(repository, work / "runtime", TritonPorts(free_port(), free_port(), free_port()))
    server.start()
    yield server
    server.stop()


def ingested(catalog: Path, triton_url: str, milvus_uri: str, collection: str, rejects: Path,
             sources: ImageSources | None = None) -> CatalogStore:
    """`catalog` ingested through the Triton at `triton_url` into `collection`. In a worker thread: ingest runs its
    own event loop, which cannot start inside the one the browser tests' Playwright runs."""
    from concurrent.futures import ThreadPoolExecutor

    from ingest.pipeline import ingest_catalog

    store = CatalogStore(milvus_uri, collection)
    with ThreadPoolExecutor(1) as worker:
        report = worker.submit(ingest_catalog, catalog, TritonClient(triton_url), store, rejects,
                               progress=False, sources=sources).result()
    assert report.rejected == 0
    return store
