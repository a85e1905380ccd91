"""Shared benchmark plumbing: machine description, result rows, the results file and a table.

Every benchmark measures ours and its baseline in the same run and writes
``bench/results/NAME.json``: {"machine": {...}, "rows": [{measure, unit, ours, baseline,
baseline_name, ratio, goal, met}]}.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    measure: str
    unit: str
    ours: float
    baseline: float
    baseline_name: str
    # ours / baseline for "lower is better" measures, baseline / ours for "higher is better" ones,
    # so that a ratio below the goal always means the goal is met.
    ratio: float
    goal: str
    met: bool


def _row(
    measure: str, unit: str, ours: float, base: float, name: str, ratio: float, limit: float | None, goal: str
) -> Row:
    """A row whose ``ratio`` must be at most ``limit`` (None: reported without a goal, met)."""
    return Row(
        measure=measure,
        unit=unit,
        ours=ours,
        baseline=base,
        baseline_name=name,
        ratio=ratio,
        goal=goal if limit is not None else "none set",
        met=ratio <= limit if limit is not None else True,
    )


def lower_is_better(
    measure: str, unit: str, ours: float, base: float, name: str, goal: float | None = None
) -> Row:
    """A row where less is better (latency): ratio ours / base; ``goal`` the largest ratio allowed,
    None for a row reported without a goal (met)."""
    return _row(measure, unit, ours, base, name, ours / base, goal, f"<= {goal:g}x" if goal else "")


def higher_is_better(
    measure: str, unit: str, ours: float, base: float, name: str, goal: float | None = None
) -> Row:
    """A row where more is better (throughput): ratio base / ours, so that below ``1 / goal`` means
    ours is at least ``goal`` times the baseline; None for a row reported without a goal (met)."""
    limit = 1 / goal if goal is not None else None
    text = f"<= {limit:g}x (ours >= {goal:g}x)" if limit is not None and goal is not None else ""
    return _row(measure, unit, ours, base, name, base / ours, limit, text)


def child_env(repo_root: Path) -> dict[str, str]:
    """The environment of a benchmark's child process: this one's, with the repository importable
    (``python -m bench.NAME --side ...`` runs from the data folder, not the repository)."""
    path = os.pathsep.join(filter(None, [str(repo_root), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def machine() -> dict[str, Any]:
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    java = subprocess.run(
        ["java", "-version"], capture_output=True, text=True, check=False
    ).stderr.splitlines()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "java": java[0] if java else "unknown",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_results(name: str, rows: list[Row], details: dict[str, Any] | None = None) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"machine": machine(), "rows": [asdict(r) for r in rows], "details": details or {}}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_table(title: str, rows: list[Row]) -> None:
    header = f"{'measure':<44} {'unit':<10} {'ours':>12} {'baseline':>12} {'ratio':>7}  goal         met"
    print(f"\n{title}\n{header}\n{'-' * len(header)}")
    for r in rows:
        print(
            f"{r.measure:<44} {r.unit:<10} {r.ours:>12,.1f} {r.baseline:>12,.1f} {r.ratio:>7.2f}  "
            f"{r.goal:<12} {'yes' if r.met else 'NO'}"
        )
    print(f"(baseline: {rows[0].baseline_name})" if rows else "")
