"""What every part of the similarity benchmark shares."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
DIM = 384
K = 10


def say(line: str) -> None:
    """A progress line (stderr; the table goes to stdout)."""
    print(line, file=sys.stderr, flush=True)


def percentiles(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "n": 0}
    values = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 4),
        "p99_ms": round(float(np.percentile(values, 99)), 4),
        "max_ms": round(float(values.max()), 4),
        "n": len(values),
    }
