"""The house plan holds (docs/architecture.md): the layers of pyproject.toml's import-linter contract, no import
cycle anywhere, Triton's Python models over the library alone, and no module too long to read in one sitting."""

from __future__ import annotations

import ast
import graphlib
import subprocess
from pathlib import Path

import grimp
import tomllib
from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[2]
PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
MAX_LINES = 450


def test_each_layer_imports_only_the_layers_below_it(capsys) -> None:
    status = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == 0, capsys.readouterr().out


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_triton_python_models_import_only_the_library() -> None:
    for path in sorted((REPO / "model_repository").glob("*/1/model.py")):
        tree = ast.parse(path.read_text())
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        above = sorted(name for name in names if name.split(".")[0] in set(PACKAGES) - {"atelier"})
        assert not above, f"{path.relative_to(REPO)} imports {above}"


def test_no_module_is_longer_than_about_400_lines() -> None:
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    long = {name: lines for name in tracked if not name.startswith("tests/")
            and (lines := len((REPO / name).read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
