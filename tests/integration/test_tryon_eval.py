"""`atelier eval tryon` on a synthetic paired split through the live Triton server, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from training.viton_synthetic import write_synthetic_viton

pytestmark = pytest.mark.integration


def test_eval_tryon_reports_paired_metrics_with_their_backbones(triton_server, tmp_path: Path) -> None:
    data = write_synthetic_viton(tmp_path / "viton", n_pairs=5, size=(128, 96), splits=("test",))
    env = {**os.environ, "ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_HOME": str(tmp_path / "home"),
           "TORCH_HOME": str(tmp_path / "empty-torch-home")}

    def run(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", "eval", "tryon", "--data", str(data),
                               "--size", "128x96", "--steps", "2", "--out", str(tmp_path / "out"), "--json",
                               *options], env=env, capture_output=True, text=True, timeout=600)

    result = run("--features", "clip", "--lpips", "none")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pairs"] == 5 and report["split"] == "test"
    # FID on the suite's untrained CLIP, whose image embeddings nearly coincide, comes out about 0: finite, not less.
    assert 0 < report["ssim"] < 1 and 0 <= report["fid"] < float("inf") and report["lpips"] is None
    assert report["backbones"]["fid"].startswith("custom: clip_image (") and not report["comparable_with_papers"]
    assert json.loads(Path(report["json"]).read_text())["fid"] == report["fid"]
    assert Image.open(report["figure"]).size[0] > 400

    standard = run()  # the published Inception and AlexNet weights are not on this machine: said at once
    assert standard.returncode == 1 and "Traceback" not in standard.stderr
    assert "weights-inception-2015-12-05-6726825d.pth" in standard.stderr and "alexnet-owt" in standard.stderr
