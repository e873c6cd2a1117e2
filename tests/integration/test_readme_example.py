"""The README's tritonclient example, run as written against the live server."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from atelier.config import REPO_ROOT

pytestmark = pytest.mark.integration


def readme_example() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    after_marker = readme.split("<!-- readme-example:", 1)[1]
    return re.search(r"```python\n(.*?)```", after_marker, re.S).group(1)


def test_readme_grpc_example_runs(triton_server, demo_csv):
    code = readme_example()
    code = code.replace('"localhost:8001"', repr(triton_server.grpc_url))
    code = code.replace('".atelier/demo-catalog/images/demo-000001.png"', repr(str(demo_csv.parent / "images" /
                                                                                 "demo-000001.png")))
    assert len(code.splitlines()) <= 12
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(2,", "128)", "(1,", "128)"]
