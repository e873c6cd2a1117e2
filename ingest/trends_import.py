"""A social-post export -> the trends collection: read, fetch images, embed through Triton, upsert.

Idempotent: posts are upserted by id, so importing an export again (or a later export that repeats posts)
leaves one row per post. Rejects (unusable rows, unreadable images, images Triton refuses) go to a JSONL
file with the reason, as the catalog ingest writes them. With a zero-shot labeler, every post is labelled
from the embedding it is stored with (its labels' values join the rising terms).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from atelier.config import AtelierError
from atelier.trend_store import TEXT_FIELDS, TrendStore
from atelier.triton_client import TritonClient
from ingest.fetch import ImageSources, Unusable, load_images
from ingest.pipeline import IngestReport, Progress, embed_batch, finish, in_batches
from ingest.sources import Reject
from ingest.trend_posts import read_trend_posts

if TYPE_CHECKING:
    from atelier.labels import ZeroShotLabeler


def import_trend_posts(
    path: Path,
    triton: TritonClient,
    store: TrendStore,
    rejects_path: Path,
    batch_size: int = 32,
    progress: Progress = True,
    labeler: ZeroShotLabeler | None = None,
    media_root: Path | None = None,
) -> IngestReport:
    """Import the posts of an export file (ingest.trend_posts reads it; `media_root` resolves local images).

    `progress`: True draws a progress bar, a callable is called with (done, total) after every batch.
    """
    if batch_size < 1:
        raise AtelierError(f"the batch size must be at least 1, not {batch_size}")
    posts, rejects = read_trend_posts(Path(path), media_root)
    sources = ImageSources.under([media_root or Path(path).parent])
    report = IngestReport(rows=len(posts) + len(rejects), rejects=list(rejects))
    model = triton.embedding_model()
    store.check_model(model)
    report.embedding_model = str(model)
    usable = []
    for post in posts:
        if len(post["image"].encode("utf-8")) > TEXT_FIELDS["image_uri"]:
            report.rejects.append(Reject(post["record"], "image location is too long", post))
        else:
            usable.append(post)
    posts = usable
    with store.writing():
        for batch in in_batches(posts, batch_size, f"import {Path(path).name}", "post", progress):
            loaded = load_images([post["image"] for post in batch], sources)
            report.rejects.extend(Reject(post["record"], data, post) for post, data in zip(batch, loaded)
                                  if isinstance(data, Unusable))
            good = [(post, data) for post, data in zip(batch, loaded) if isinstance(data, bytes)]
            if good:
                kept, vectors = embed_batch(triton, *map(list, zip(*good)), report, model)
                if kept:
                    if labeler is not None:
                        labels = labeler.label_embeddings(vectors, model)
                        kept = [{**post, "labels": {name: label["value"] for name, label in post_labels.items()}}
                                for post, post_labels in zip(kept, labels)]
                    store.upsert(kept, vectors, model)
                    report.upserted += len(kept)
    return finish(report, store, rejects_path)
