"""A catalog uploaded as files is laid out so its relative image paths resolve, and a zip cannot write elsewhere."""

from __future__ import annotations

import io
import zipfile

import pytest

from atelier.config import AtelierError
from ingest.uploads import lay_out

CSV = b"id,title,image\np1,Sage shirt,images/shirt.png\np2,Navy skirt,pics/skirt.png\n"


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_loose_images_go_where_the_catalog_points(tmp_path):
    catalog = lay_out([("shop.csv", CSV), ("shirt.png", b"S"), ("skirt.png", b"K"), ("extra.png", b"E")], tmp_path)
    assert catalog == tmp_path / "shop.csv"
    assert (tmp_path / "images/shirt.png").read_bytes() == b"S" and (tmp_path / "pics/skirt.png").read_bytes() == b"K"
    assert (tmp_path / "extra.png").read_bytes() == b"E"


def test_a_zip_with_the_catalog_and_its_images_is_unpacked(tmp_path):
    archive = zipped({"shop/catalog.csv": CSV, "shop/images/shirt.png": b"S", "shop/pics/skirt.png": b"K"})
    assert lay_out([("shop.zip", archive)], tmp_path) == tmp_path / "shop/catalog.csv"
    assert (tmp_path / "shop/images/shirt.png").read_bytes() == b"S"


def test_a_zip_member_outside_the_folder_is_refused_before_it_is_written(tmp_path):
    with pytest.raises(AtelierError, match="would land outside the upload folder"):
        lay_out([("x.zip", zipped({"../evil.png": b"E"})), ("shop.csv", CSV)], tmp_path / "upload")
    assert not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize("files", [[("shirt.png", b"S")], [("a.csv", CSV), ("b.jsonl", b"{}")]])
def test_exactly_one_catalog_file_is_asked_for(tmp_path, files):
    with pytest.raises(AtelierError, match="upload one catalog file"):
        lay_out(files, tmp_path)


def test_a_broken_zip_is_named(tmp_path):
    with pytest.raises(AtelierError, match="photos.zip is not a readable zip"):
        lay_out([("photos.zip", b"PK not really"), ("shop.csv", CSV)], tmp_path)


def test_a_zip_with_one_bad_member_writes_none_of_them(tmp_path):
    archive = zipped({"shop/catalog.csv": CSV, "../evil.png": b"E"})  # the good member comes first
    with pytest.raises(AtelierError, match="would land outside"):
        lay_out([("x.zip", archive)], tmp_path / "upload")
    assert not (tmp_path / "upload" / "shop").exists()
