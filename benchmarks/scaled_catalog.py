"""A large catalog for load tests, drawn from an ingested one: every stored product copied until the collection
holds `size` rows, each copy's embedding the original's plus Gaussian noise (renormalised), so copies cluster
around real products as a larger catalog of similar goods would. Written into a scratch collection (the source is
read only); what costs a search there (rows, index, segments) is what a catalog of that size costs. It is not a
catalog to judge search quality by: the copies have no pictures of their own.

    python -m benchmarks.scaled_catalog --size 100000 --into catalog_100k
    ATELIER_COLLECTION=catalog_100k atelier bench load --clients 16 --seconds 600
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from atelier.catalog_store import OUTPUT_FIELDS, CatalogStore
from atelier.config import AtelierError, Settings

NOISE = 0.05  # per dimension, before renormalising: copies stay nearest their original's neighbours


def scaled_catalog(source: CatalogStore, target: CatalogStore, size: int, batch: int = 2000, seed: int = 0) -> int:
    """Fill `target` to `size` rows from `source`'s products; returns the rows it holds."""
    model = source.recorded_model()
    if model is None:
        raise AtelierError(f"collection {source.collection!r} is empty; ingest a catalog first")
    rows = source.all_rows(["id", *OUTPUT_FIELDS, "row_hash", "image_fingerprint"])
    vectors = source.embeddings([row["id"] for row in rows])
    originals = np.stack([vectors[row["id"]] for row in rows])
    random = np.random.default_rng(seed)
    with tqdm(total=size, desc=f"fill {target.collection}", unit="row") as bar:
        for start in range(0, size, batch):
            picks = np.arange(start, min(start + batch, size)) % len(rows)
            copies = originals[picks] + random.normal(0, NOISE, (len(picks), originals.shape[1])).astype(np.float32)
            copies /= np.linalg.norm(copies, axis=1, keepdims=True)
            records = [{**rows[p], "id": f"{rows[p]['id']}~{start + i}"} for i, p in enumerate(picks)]
            target.upsert(records, copies, model)
            bar.update(len(picks))
    target.seal()
    return target.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--into", default="catalog_100k", help="the scratch collection (replaced)")
    args = parser.parse_args()
    settings = Settings()
    if args.into == settings.collection:
        raise SystemExit("--into must name a scratch collection, not the catalog itself")
    target = CatalogStore(settings.milvus_uri, args.into)
    if target.exists():
        target.drop()
    print(f"{args.into}: {scaled_catalog(CatalogStore(settings.milvus_uri, settings.collection), target, args.size)} "
          "rows")


if __name__ == "__main__":
    main()
