"""The layer contract of docs/architecture.md (pyproject's [tool.importlinter]): the tree keeps it,
and a deliberate violation breaks it, so the check in `make test` can fail.

Each case lints a copy of the package (links resolved, as a wheel holds it) with one line added,
so the working tree is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """content_signals/ and bench/ copied with the stage links resolved, plus the contract."""
    root = tmp_path_factory.mktemp("layers")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "api")
    shutil.copytree(ROOT / "content_signals", root / "content_signals", symlinks=False, ignore=ignore)
    shutil.copytree(ROOT / "bench", root / "bench", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    # Wide lines: lint-imports wraps its report at the terminal's width.
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "250"}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def _with_line(root: Path, module: str, line: str) -> Path:
    """A copy of ``root`` in which ``module`` (a path under it) gains ``line`` at the end."""
    copy = root.parent / f"{root.name}-violation-{module.replace('/', '_')}"
    shutil.copytree(root, copy)
    path = copy / module
    path.write_text(path.read_text() + f"\n{line}\n")
    return copy


def test_the_tree_keeps_every_contract(tree_copy: Path) -> None:
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # The vocabulary reaching up into a stage.
        ("content_signals/definitions/__init__.py", "import content_signals.feature_repo.repo", "layers"),
        # One stage importing another of its layer.
        ("content_signals/models/decisions.py", "import content_signals.expectations.gate", "layers"),
        # A stage importing the layer above it.
        ("content_signals/feature_repo/views.py", "import content_signals.jobs.runner", "layers"),
        # The platform importing a benchmark.
        ("content_signals/cli/common.py", "import bench.harness", "Benchmarks sit on top"),
    ],
)
def test_a_deliberate_violation_breaks_the_contract(
    tree_copy: Path, module: str, line: str, broken: str
) -> None:
    if not (tree_copy / module).exists():  # definitions may be a module rather than a package
        module = module.replace("/__init__.py", ".py")
    result = _lint(_with_line(tree_copy, module, line))
    assert result.returncode != 0, result.stdout
    report = " ".join(result.stdout.split())
    assert line.removeprefix("import ") in report
    if broken == "layers":
        expected = "vocabulary BROKEN"
    else:
        expected = f"{broken}: nothing in the platform imports them BROKEN"
    assert expected in report


def test_a_new_module_without_a_layer_breaks_the_exhaustive_contract(tree_copy: Path) -> None:
    copy = _with_line(tree_copy, "content_signals/errors.py", "")
    (copy / "content_signals" / "unplaced.py").write_text('"""A module nobody gave a layer."""\n')
    result = _lint(copy)
    assert result.returncode != 0
    assert "content_signals.unplaced" in result.stdout
