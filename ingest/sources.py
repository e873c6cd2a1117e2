"""Catalog sources -> validated rows. CSV, JSONL, Parquet, or a folder of images.

Every row either becomes a `dict` with the catalog fields, or a reject with the reason; nothing is
dropped silently. Relative image paths are resolved against the catalog file's folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from atelier.catalog_store import ID_MAX_LENGTH, TEXT_FIELDS
from atelier.config import AtelierError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
REQUIRED = ("id", "title", "image")
OPTIONAL_TEXT = ("category", "garment", "color", "pattern", "brand", "source")


@dataclass(frozen=True)
class Reject:
    line: int  # 1-based record number in the source (CSV: data row), 0 for the file itself
    reason: str
    row: dict[str, Any]


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _clean(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def row_hash(row: dict[str, Any]) -> str:
    """Identifies a row's content: an unchanged row is not embedded again."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


def validate(raw: dict[str, Any], base: Path, default_source: str) -> dict[str, Any]:
    """One catalog row, normalised; raises ValueError with the reason when it cannot be used."""
    row = {name: _clean(raw.get(name)) for name in (*REQUIRED, *OPTIONAL_TEXT)}
    for name in REQUIRED:
        if not row[name]:
            raise ValueError(f"missing {name}")
    if len(row["id"]) > ID_MAX_LENGTH:
        raise ValueError(f"id is longer than {ID_MAX_LENGTH} characters")
    for name in ("title", *OPTIONAL_TEXT):
        if len(row[name]) > TEXT_FIELDS[name]:
            raise ValueError(f"{name} is longer than {TEXT_FIELDS[name]} characters")
    price_text = _clean(raw.get("price"))
    try:
        price = float(price_text) if price_text else 0.0
    except ValueError:
        raise ValueError(f"price {price_text!r} is not a number") from None
    if not math.isfinite(price) or price < 0:
        raise ValueError(f"price {price_text!r} must be a non-negative number")
    image = row["image"]
    if not _is_url(image):
        if "://" in image:
            raise ValueError(f"image {image!r}: only local paths and http(s) URLs are supported")
        image = str((base / image).resolve())
    if len(image) > TEXT_FIELDS["image_uri"]:
        raise ValueError("image location is too long")
    row.pop("image")
    row.update(image_uri=image, price=round(price, 2), source=row["source"] or default_source)
    row["row_hash"] = row_hash(row)
    return row


def csv_records(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV file as {column: text}. A line with more fields than the header, and a record that runs
    over several lines, become errors (rejects), never a failed file or a silently lost row: no catalog field
    holds a line break, so such a record is a stray quote that swallowed the lines after it."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        rows: list[dict[str, Any]] = []
        first_line = reader.line_num + 1
        for fields in reader:
            if reader.line_num > first_line and any("\n" in field or "\r" in field for field in fields):
                rows.append({"__error__": f"lines {first_line}-{reader.line_num} read as one record: check the "
                                          f"quotes on line {first_line}", "__line__": first_line})
            elif len(fields) > len(header):
                rows.append({"__error__": f"malformed CSV line with {len(fields)} fields: {','.join(fields)[:200]}",
                             "__line__": first_line})
            elif any(field.strip() for field in fields):  # blank lines are skipped
                rows.append(dict(zip(header, fields + [""] * (len(header) - len(fields)))))
            first_line = reader.line_num + 1
        return rows


def records(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return csv_records(path)
        if suffix == ".parquet":
            return pd.read_parquet(path).to_dict("records")
    except Exception as error:
        raise AtelierError(f"cannot read {path}: {error}") from error
    if suffix in (".jsonl", ".ndjson"):
        records = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError as error:
                record = {"__error__": f"invalid JSON: {error.msg}", "__line__": number}
            records.append(record if isinstance(record, dict) or record is None else
                           {"__error__": "a JSON line must be an object", "__line__": number})
        return records
    raise AtelierError(f"unsupported catalog format {path.suffix!r}; use .csv, .jsonl, .parquet or a folder")


def _folder_records(folder: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        relative = path.relative_to(folder)
        records.append({
            "id": relative.with_suffix("").as_posix(),
            "title": path.stem.replace("_", " ").replace("-", " "),
            "category": relative.parent.name if relative.parent != Path(".") else "",
            "image": relative.as_posix(),
        })
    return records


def validated(found: Iterable[dict[str, Any] | None], normalise: Callable[[dict[str, Any]], dict[str, Any]],
              kept: Callable[[dict[str, Any]], dict[str, Any]] = dict) -> tuple[list[dict[str, Any]], list[Reject]]:
    """Each record through `normalise`, kept with its number as "record"; one that a reader marked (`__error__`),
    that `normalise` refuses (ValueError) or whose id an earlier one has becomes a Reject with its number, the
    reason and `kept(record)`."""
    rows, rejects, seen = [], [], set()
    for number, record in enumerate(found, 1):
        if record is None:
            continue
        try:
            if "__error__" in record:
                raise ValueError(record["__error__"])
            row = normalise(record)
            if row["id"] in seen:
                raise ValueError(f"duplicate id {row['id']!r} (an earlier row has it)")
        except ValueError as error:
            rejects.append(Reject(number, str(error), kept(record)))
            continue
        seen.add(row["id"])
        rows.append({**row, "record": number})  # for a reject found later (an image that does not load)
    return rows, rejects


def read_catalog(path: Path) -> tuple[list[dict[str, Any]], list[Reject]]:
    """Validated rows and rejects of a catalog file or image folder. Later duplicates of an id are rejected."""
    path = Path(path)
    if not path.exists():
        raise AtelierError(f"catalog {path} does not exist")
    found = _folder_records(path) if path.is_dir() else records(path)
    base = path if path.is_dir() else path.parent
    return validated(found, lambda record: validate(record, base, default_source=path.stem),
                     kept=lambda record: {k: _clean(v) for k, v in record.items()})


def write_rejects(rejects: list[Reject], path: Path) -> None:
    """One JSON object per reject: its line, reason and row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "w", encoding="utf-8") as f:
            for reject in rejects:
                f.write(json.dumps({"line": reject.line, "reason": reject.reason, "row": reject.row}, default=str)
                        + "\n")
    except OSError as error:  # a full disk fails on a write or the close, where Python names no file
        raise OSError(error.errno, error.strerror, str(path)) from None
