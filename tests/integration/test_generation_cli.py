"""`atelier generate`, `edit` and `inpaint` as a user runs them: a PNG written, the top-5 products printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from atelier.images import png_bytes

pytestmark = pytest.mark.integration


@pytest.fixture
def run(triton_server, milvus_uri, demo_store, tmp_path):
    env = {**os.environ, "ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
           "ATELIER_COLLECTION": demo_store.collection, "ATELIER_HOME": str(tmp_path / "home"),
           "ATELIER_MODEL_REPOSITORY": str(triton_server.repository)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    return run


def test_generate_writes_the_png_and_prints_five_products(run, triton, tmp_path: Path) -> None:
    result = run("generate", "--prompt", "a navy checked coat", "--seed", "9", "--steps", "3",
                 "--width", "128", "--height", "96", "--out", "look.png")
    assert result.returncode == 0, result.stderr
    written = np.asarray(Image.open(tmp_path / "look.png"))
    expected, _ = triton.generate("txt2img", prompt="a navy checked coat", seed=9, steps=3, width=128, height=96)
    assert np.array_equal(written, expected)
    lines = result.stdout.rstrip().splitlines()
    assert len(lines) == 5 and lines[0].startswith(" 1. ") and "demo-" in lines[0]
    assert "seed 9" in result.stderr
    assert "txt2img: tiny network, random weights" in result.stderr and "this image is noise" in result.stderr


def test_edit_and_inpaint_write_pngs_and_report_products_as_json(run, tmp_path: Path) -> None:
    photo = Image.new("RGB", (96, 64), (200, 180, 150))
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (30, 10, 70, 50))
    (tmp_path / "photo.png").write_bytes(png_bytes(photo))
    (tmp_path / "mask.png").write_bytes(png_bytes(mask))
    edit = run("edit", "--image", "photo.png", "--instruction", "make it denim", "--steps", "2", "--json")
    assert edit.returncode == 0, edit.stderr
    report = json.loads(edit.stdout)
    assert (report["width"], report["height"]) == (96, 64) and len(report["products"]) == 5
    assert report["weights"] == "tiny network, random weights" and report["learned_weights"] is False
    assert Path(tmp_path / report["image"]).exists()
    inpaint = run("inpaint", "--image", "photo.png", "--mask", "mask.png", "--prompt", "a red scarf", "--steps", "2",
                  "--seed", "3", "--out", "inpainted.png", "--json")
    assert inpaint.returncode == 0, inpaint.stderr
    assert json.loads(inpaint.stdout)["seed"] == 3
    result = np.asarray(Image.open(tmp_path / "inpainted.png"))
    assert np.array_equal(result[:, :20], np.asarray(photo)[:, :20])  # far from the mask: untouched


def test_bad_input_is_reported_in_one_line_and_nothing_is_written(run, tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(png_bytes(Image.new("RGB", (96, 64))))
    (tmp_path / "square.png").write_bytes(png_bytes(Image.new("L", (64, 64), 255)))
    result = run("inpaint", "--image", "photo.png", "--mask", "square.png", "--prompt", "a hat", "--out", "x.png")
    assert result.returncode == 1
    assert "mask is 64x64 but the image is 96x64" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()
    missing = run("edit", "--image", "nowhere.png", "--instruction", "make it red")
    assert missing.returncode == 1 and "cannot read the image 'nowhere.png'" in missing.stderr


def test_tryon_writes_the_png_and_asks_for_a_mask_when_none_is_given(run, tmp_path: Path) -> None:
    person = Image.new("RGB", (64, 96), (220, 210, 200))
    person.paste((30, 40, 140), (16, 24, 48, 60))
    mask = Image.new("L", (64, 96), 0)
    mask.paste(255, (14, 22, 50, 62))
    for name, image in (("person", person), ("garment", Image.new("RGB", (64, 64), (190, 20, 30))), ("mask", mask)):
        (tmp_path / f"{name}.png").write_bytes(png_bytes(image))
    result = run("tryon", "--person", "person.png", "--garment", "garment.png", "--mask", "mask.png",
                 "--steps", "2", "--seed", "5", "--out", "worn.png", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seed"] == 5 and (report["width"], report["height"]) == (64, 96) and len(report["products"]) == 5
    assert np.array_equal(np.asarray(Image.open(tmp_path / "worn.png"))[80:], np.asarray(person)[80:])
    unmasked = run("tryon", "--person", "person.png", "--garment", "garment.png", "--out", "x.png")
    assert unmasked.returncode == 1 and "Traceback" not in unmasked.stderr
    assert "paint the area the garment should cover" in unmasked.stderr and not (tmp_path / "x.png").exists()
