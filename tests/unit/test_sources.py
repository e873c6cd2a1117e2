from __future__ import annotations

import json

import pandas as pd
import pytest

from atelier.config import AtelierError
from ingest.sources import read_catalog


def write_csv(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_csv_rows_are_validated_and_resolved(tmp_path):
    csv = write_csv(tmp_path / "c.csv", [
        {"id": "a", "title": "Red shirt", "image": "img/a.png", "price": "19.999", "color": "red"},
        {"id": "b", "title": "", "image": "img/b.png", "price": "5"},
        {"id": "c", "title": "Coat", "image": "img/c.png", "price": "-3"},
        {"id": "a", "title": "Again", "image": "img/a.png", "price": ""},
        {"id": "d", "title": "Web", "image": "https://example.com/d.png", "price": "nan?"},
        {"id": "e", "title": "Ftp", "image": "ftp://example.com/e.png", "price": "1"},
    ])
    rows, rejects = read_catalog(csv)
    assert [r["id"] for r in rows] == ["a"]
    assert rows[0]["image_uri"] == str((tmp_path / "img/a.png").resolve())
    assert rows[0]["price"] == 20.0 and rows[0]["source"] == "c" and len(rows[0]["row_hash"]) == 64
    reasons = {r.row["id"] + str(r.line): r.reason for r in rejects}
    assert reasons["b2"] == "missing title"
    assert "non-negative" in reasons["c3"]
    assert "duplicate id 'a'" in reasons["a4"]
    assert "not a number" in reasons["d5"]
    assert "only local paths and http(s) URLs" in reasons["e6"]


def test_row_hash_changes_with_content(tmp_path):
    first, _ = read_catalog(write_csv(tmp_path / "x.csv", [{"id": "a", "title": "T", "image": "a.png"}]))
    second, _ = read_catalog(write_csv(tmp_path / "x.csv", [{"id": "a", "title": "T2", "image": "a.png"}]))
    assert first[0]["row_hash"] != second[0]["row_hash"]


def test_jsonl_with_broken_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "title": "T", "image": "a.png", "price": 3}),
        "{not json",
        json.dumps(["a", "list"]),
        "",
    ]))
    rows, rejects = read_catalog(path)
    assert [r["id"] for r in rows] == ["a"]
    assert [r.line for r in rejects] == [2, 3]
    assert "invalid JSON" in rejects[0].reason and "must be an object" in rejects[1].reason


def test_csv_lines_with_extra_fields_are_rejected_not_fatal(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,title,image\na,T,a.png\nb,T,b.png,EXTRA,FIELDS\n")
    rows, rejects = read_catalog(path)
    assert [r["id"] for r in rows] == ["a"]
    assert len(rejects) == 1 and "malformed CSV line" in rejects[0].reason


def test_a_stray_quote_that_merges_rows_is_reported_not_silent(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,title,image\na,T,a.png\nb,"Stray quote,b.png\nc,T,c.png\nd,T,d.png\n')
    rows, rejects = read_catalog(path)
    assert [row["id"] for row in rows] == ["a"]  # b, c and d are inside the unclosed quote
    assert [reject.reason for reject in rejects] == [
        "lines 3-5 read as one record: check the quotes on line 3"]


def test_parquet_and_folder_sources(tmp_path):
    pd.DataFrame([{"id": "p", "title": "T", "image": "p.png", "price": 2.5}]).to_parquet(tmp_path / "c.parquet")
    rows, _ = read_catalog(tmp_path / "c.parquet")
    assert rows[0]["price"] == 2.5
    (tmp_path / "shoes").mkdir()
    (tmp_path / "shoes" / "red_sneaker.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored")
    rows, rejects = read_catalog(tmp_path)
    assert [(r["id"], r["title"], r["category"]) for r in rows] == [("shoes/red_sneaker", "red sneaker", "shoes")]


def test_unknown_format_and_missing_file_are_clear_errors(tmp_path):
    (tmp_path / "c.xlsx").write_text("")
    with pytest.raises(AtelierError, match="unsupported catalog format"):
        read_catalog(tmp_path / "c.xlsx")
    with pytest.raises(AtelierError, match="does not exist"):
        read_catalog(tmp_path / "missing.csv")
