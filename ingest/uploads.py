"""A catalog uploaded as files: the catalog file with its images, loose or in a zip, laid out in one folder so that
the catalog's relative image paths resolve there (`atelier ingest` then reads images under that folder only)."""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path, PurePosixPath

from atelier.config import AtelierError
from ingest.sources import records

CATALOG_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
MAX_UNZIPPED_BYTES = 2 * 2**30  # a zip that would unpack to more is refused before anything is written
MAX_ZIP_MEMBERS = 100_000


def lay_out(files: list[tuple[str, bytes]], folder: Path) -> Path:
    """Write uploaded `files` (name, content) into the empty `folder`; returns the catalog file's path.

    Zips are unpacked (a member that would land outside the folder is refused). A loose image goes where the
    catalog's relative `image` paths name a file of its name ("images/shirt.png" for an upload "shirt.png"),
    otherwise beside the catalog. Exactly one catalog file (CSV, JSONL or Parquet) must be among the files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    catalogs, images = [], []
    for name, data in files:
        if name.lower().endswith(".zip"):
            _unzip(data, folder, name)
            continue
        plain = PurePosixPath(name.replace("\\", "/")).name
        (catalogs if plain.lower().endswith(CATALOG_SUFFIXES) else images).append((plain, data))
    found = [name for name, _ in catalogs]
    found += [str(path.relative_to(folder)) for path in folder.rglob("*") if path.suffix.lower() in CATALOG_SUFFIXES]
    if len(found) != 1:
        raise AtelierError(f"upload one catalog file (CSV, JSONL or Parquet) with its images; found {len(found)}"
                           + (f": {', '.join(sorted(found))}" if found else ""))
    for name, data in catalogs:
        (folder / name).write_bytes(data)
    catalog = folder / found[0]
    wanted = _image_places(catalog)
    for name, data in images:
        target = (catalog.parent / wanted.get(name, name)).resolve()
        if not target.is_relative_to(folder.resolve()):
            target = folder / name  # the catalog points outside the upload: keep the image beside it
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return catalog


def _unzip(data: bytes, folder: Path, name: str) -> None:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as error:
        raise AtelierError(f"{name} is not a readable zip ({error})") from None
    members = [member for member in archive.infolist() if not member.is_dir()]
    if len(members) > MAX_ZIP_MEMBERS or sum(member.file_size for member in members) > MAX_UNZIPPED_BYTES:
        raise AtelierError(f"{name} unpacks to more than {MAX_ZIP_MEMBERS:,} files or "
                           f"{MAX_UNZIPPED_BYTES // 2**30} GiB; upload a smaller one")
    root = folder.resolve()
    targets = [(member, (folder / member.filename).resolve()) for member in members]
    if outside := [member.filename for member, target in targets if not target.is_relative_to(root)]:
        raise AtelierError(f"{name} holds {outside[0]!r}, which would land outside the upload folder")
    for member, target in targets:  # written only once every member is known to stay inside
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(member))


def _image_places(catalog: Path) -> dict[str, str]:
    """File name -> the relative path the catalog gives it, for the catalog's local, relative image paths."""
    places = {}
    for record in records(catalog):
        image = str((record or {}).get("image") or "")
        if image and "://" not in image and not image.startswith("/"):
            places.setdefault(PurePosixPath(image).name, image)
    return places
