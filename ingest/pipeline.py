"""sources -> validate -> fetch images -> embed through Triton -> upsert into Milvus.

Idempotent and resumable: products are upserted by id, and a row whose stored `row_hash` equals
its current one is skipped before any image is fetched. The stages overlap: while one batch is
embedded, the next is read and checked and the last one stored, so a run killed midway loses at
most those three batches; running it again skips what was stored and finishes the rest.
Rejects (malformed rows, unreadable images) go to a JSONL file with the reason.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from atelier.catalog_store import CatalogStore, MilvusError
from atelier.config import AtelierError
from atelier.images import PICTURE_TOLERANCE, decode_image, fingerprint, same_picture
from atelier.labels import ZeroShotLabeler, label_fields
from atelier.trend_store import TrendStore
from atelier.triton_client import EmbeddingModel, TritonClient
from ingest.fetch import ImageSources, Unusable, load_images
from ingest.sources import Reject, read_catalog, write_rejects


@dataclass
class IngestReport:
    rows: int = 0
    unchanged: int = 0
    upserted: int = 0
    replaced: int = 0  # of the upserted: products already stored under the same id with other content
    rejected: int = 0
    rejects_path: str = ""
    collection_rows: int = 0
    embedding_model: str = ""
    rejects: list[Reject] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "rejects"}


def embed_batch(triton: TritonClient, rows: list[dict], images: list[bytes], report: IngestReport,
                model: EmbeddingModel) -> tuple[list[dict], list[np.ndarray] | np.ndarray]:
    """Embed a batch with `model`; if Triton refuses it, retry one by one so only the bad images are rejected.
    Raises if Triton now serves another embedding model (it was re-exported mid-run)."""
    try:
        embeddings, used = triton.embed_images(images)
        kept, vectors = rows, embeddings
    except AtelierError:
        if len(rows) == 1:
            raise
        kept, vectors, used = [], [], model
        for row, image in zip(rows, images):
            try:
                embedding, used = triton.embed_images([image])
            except AtelierError as error:
                report.rejects.append(Reject(row["record"], f"image rejected by clip_image: {error}", row))
                continue
            kept.append(row)
            vectors.append(embedding[0])
    if used != model:
        raise AtelierError(f"Triton's embedding model changed during the run: {model} -> {used}")
    return kept, vectors


Progress = bool | Callable[[int, int], None]  # a tqdm bar (True), or a callback given (done, in all) per batch


def in_batches(items: list, batch_size: int, desc: str, unit: str, progress: Progress) -> Iterator[list]:
    """`items` in batches of `batch_size`, showing how far the caller has got after each one."""
    with tqdm(total=len(items), desc=desc, unit=unit, disable=progress is not True) as bar:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            yield batch
            bar.update(len(batch))
            if callable(progress):
                progress(min(start + batch_size, len(items)), len(items))


def finish(report: IngestReport, store: CatalogStore | TrendStore, rejects_path: Path) -> IngestReport:
    """Write the rejects file, seal the collection where rows were stored, and count what it holds."""
    report.rejected = len(report.rejects)
    report.rejects_path = str(rejects_path)
    write_rejects(report.rejects, Path(rejects_path))
    if report.upserted:
        store.seal()
    report.collection_rows = store.count()
    return report


class Pictures:
    """The catalog's picture fingerprints (atelier.images.fingerprint, stored as hex), to refuse one picture twice.

    Two fingerprints of one picture differ by at most the tolerance in every value, so their mean red, green and
    blue do too: each is filed under its channel means in steps of tolerance + 1, and a new picture is compared
    in full only with those filed in its own step or the next ones. A lookup costs the same at 2,000 stored
    products as at 300,000 (a scan of every mean made it grow with the catalog: 13, 120, 360 ms a row at 10k,
    100k, 300k).
    """

    STEP = PICTURE_TOLERANCE + 1

    def __init__(self, stored: list[dict[str, str]]) -> None:
        self.filed: dict[tuple[int, ...], list[tuple[str, np.ndarray]]] = defaultdict(list)
        for row in stored:
            if row["image_fingerprint"]:
                self.add(row["id"], np.frombuffer(bytes.fromhex(row["image_fingerprint"]), np.uint8))

    def _step(self, print_: np.ndarray) -> tuple[int, ...]:
        return tuple(int(mean) // self.STEP for mean in print_.reshape(-1, 3).mean(axis=0))

    def add(self, product_id: str, print_: np.ndarray) -> None:
        self.filed[self._step(print_)].append((product_id, print_))

    def owner(self, product_id: str, print_: np.ndarray) -> str | None:
        """Another product that has this picture already, if any."""
        step = self._step(print_)
        for offset in itertools.product((-1, 0, 1), repeat=3):
            for other, stored in self.filed.get(tuple(s + o for s, o in zip(step, offset)), ()):
                if other != product_id and same_picture(print_, stored):
                    return other
        return None


def prepared_ahead(batches: Iterator[list], prepare: Callable[[list], Any]) -> Iterator[Any]:
    """prepare(batch) for each batch in order, the next one prepared in a thread while the caller uses this one."""
    with ThreadPoolExecutor(1) as worker:
        pending: Future | None = None
        for batch in batches:
            future = worker.submit(prepare, batch)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()


def upsert(store: CatalogStore, rows: list[dict], vectors: list[np.ndarray] | np.ndarray,
           model: EmbeddingModel) -> int:
    """Store `rows` with their embeddings; returns how many."""
    if rows:
        store.upsert(rows, vectors, model)
    return len(rows)


def ingest_catalog(
    source: Path,
    triton: TritonClient,
    store: CatalogStore,
    rejects_path: Path,
    batch_size: int = 64,
    concurrency: int = 16,
    progress: Progress = True,
    sources: ImageSources | None = None,
) -> IngestReport:
    """Read, validate, load and embed the catalog's rows and upsert them; `progress` is a tqdm bar (True) or a
    callback given (rows done, rows in all) after each batch, for a dashboard. Images are read from `sources`:
    by default files in the catalog's own folder and URLs of public hosts."""
    if batch_size < 1:
        raise AtelierError(f"the batch size must be at least 1, not {batch_size}")
    sources = sources or ImageSources.under([Path(source).parent])
    rows, rejects = read_catalog(source)
    report = IngestReport(rows=len(rows) + len(rejects), rejects=list(rejects))
    model = triton.embedding_model()
    store.check_model(model)
    labeler = ZeroShotLabeler(triton)  # labels from the embeddings themselves: no second pass over the images
    report.embedding_model = str(model)
    try:
        with store.writing():
            stored = store.all_rows(["id", "row_hash", "image_fingerprint"]) if store.exists() else []
            hashes, pictures = {row["id"]: row["row_hash"] for row in stored}, Pictures(stored)

            def prepare(batch: list[dict]) -> tuple[int, list[tuple[dict, bytes]], list[Reject]]:
                """The batch's changed rows with their images, read and checked: (unchanged, good, rejects)."""
                todo = [row for row in batch if hashes.get(row["id"]) != row["row_hash"]]
                loaded = load_images([row["image_uri"] for row in todo], sources, concurrency, check=False)
                good, refused = [], []
                for row, data in zip(todo, loaded):
                    if not isinstance(data, Unusable):
                        try:
                            picture = fingerprint(decode_image(data))
                        except ValueError as error:  # not an image: decoded once, here, not in load_images too
                            data = Unusable(error)
                    if isinstance(data, Unusable):
                        refused.append(Reject(row["record"], data, row))
                        continue
                    if (owner := pictures.owner(row["id"], picture)) is not None:
                        refused.append(Reject(row["record"], f"the same picture as product {owner}", row))
                        continue
                    pictures.add(row["id"], picture)
                    row["image_fingerprint"] = picture.tobytes().hex()
                    good.append((row, data))
                return len(batch) - len(todo), good, refused

            # Three stages overlap: the next batch is read while this one is embedded and the last one stored.
            with ThreadPoolExecutor(1) as storing:
                stored_last: Future | None = None
                batches = in_batches(rows, batch_size, f"ingest {Path(source).name}", "row", progress)
                for unchanged, good, refused in prepared_ahead(batches, prepare):
                    report.unchanged += unchanged
                    report.rejects.extend(refused)
                    if not good:
                        continue
                    kept, vectors = embed_batch(triton, *map(list, zip(*good)), report, model)
                    if stored_last is not None:
                        report.upserted += stored_last.result()
                    labels = labeler.label_embeddings(np.asarray(vectors), model) if kept else []
                    report.replaced += sum(row["id"] in hashes for row in kept)
                    stored_last = storing.submit(upsert, store, [{**row, **label_fields(found)}
                                                                 for row, found in zip(kept, labels)], vectors, model)
                if stored_last is not None:
                    report.upserted += stored_last.result()
    except MilvusError as error:
        write_rejects(report.rejects, rejects_path)
        raise MilvusError(f"{error}. {report.upserted} products were stored before it stopped; run the same ingest "
                          "again to finish (stored products are skipped)") from None
    return finish(report, store, rejects_path)
