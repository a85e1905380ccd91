"""Checks on the catalogue inputs that several jobs share (file system only, no engine)."""

from __future__ import annotations

from pathlib import Path

from content_signals.errors import SignalsError


def require(
    path: Path, what: str, hint: str = "run `signals generate` or `signals import catalog` first"
) -> Path:
    if not path.exists():
        raise SignalsError(f"missing input: no {what} at {path} ({hint})")
    return path
