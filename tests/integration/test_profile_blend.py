"""A shopper's order export as a profile, and searches that lean towards it, from the command line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ingested

pytestmark = pytest.mark.integration


def test_search_leans_towards_what_the_shopper_bought(trained_triton, milvus_uri, demo_csv, tmp_path: Path) -> None:
    # On the demo's trained CLIP: the untrained one tells products apart too little for a lean to mean anything.
    demo_store = ingested(demo_csv, trained_triton.grpc_url, milvus_uri, "trained_demo", tmp_path / "rejects.jsonl")
    rows = demo_store.rows(["id", "title", "category", "color", "price"])
    bought = [row for row in rows if row["color"] == "red"][:3]
    with (tmp_path / "orders.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["Order ID", "Product ID", "Product Name", "Category", "Colour", "Price",
                                         "Quantity", "Order Date"])
        writer.writeheader()
        for number, row in enumerate(bought):
            writer.writerow({"Order ID": f"o{number}", "Product ID": row["id"], "Product Name": row["title"],
                             "Category": row["category"], "Colour": row["color"], "Price": row["price"],
                             "Quantity": 1, "Order Date": f"2026-10-0{number + 1}"})
        writer.writerow({"Order ID": "bad", "Product ID": "", "Product Name": "", "Price": "x"})  # rejected
    env = {**os.environ, "ATELIER_TRITON_URL": trained_triton.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
           "ATELIER_COLLECTION": demo_store.collection, "ATELIER_HOME": str(tmp_path / "home")}

    def atelier(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result

    imported = atelier("shopper", "import", "Ana", str(tmp_path / "orders.csv"))
    assert "3 order lines kept, 1 rejected" in imported.stderr
    assert atelier("shopper", "list").stdout.split() == ["Ana"]

    def search(*options: str) -> list[str]:
        return [hit["id"] for hit in json.loads(atelier("search", "--text", "a navy coat", "--top-k", "10",
                                                        "--json", *options).stdout)]

    plain = search()
    assert search("--shopper", "Ana", "--history-weight", "0") == plain
    history_only = search("--shopper", "Ana", "--history-weight", "1")
    assert len({row["id"] for row in bought} & set(history_only[:5])) >= 2  # their own purchases come first
    assert history_only != plain
