"""Checks on the inputs that several jobs share (file system only, no engine), run before Spark starts."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from content_signals.errors import SignalsError
from content_signals.layout import DataLayout


def require(
    path: Path, what: str, hint: str = "run `signals generate` or `signals import catalog` first"
) -> Path:
    if not path.exists():
        raise SignalsError(f"missing input: no {what} at {path} ({hint})")
    return path


def event_window(layout: DataLayout, day: date, days: int) -> list[Path]:
    """The listening-event partitions of the ``days`` days ending with ``day``; raises if any is missing.

    The partition date's own events must exist. Earlier days may be missing only where the event
    history has not started yet; a gap inside the history is an error, because it would silently
    undercount engagement.
    """
    if not layout.events_partition(day).exists():
        raise SignalsError(
            f"missing input: no listening events for {day.isoformat()} at {layout.events_partition(day)}"
        )
    window = [day - timedelta(days=offset) for offset in range(days)]
    present = sorted(d for d in window if layout.events_partition(d).exists())
    gaps = [d.isoformat() for d in window if d > present[0] and d not in present]
    if gaps:
        raise SignalsError(f"missing input: listening events have gaps on {', '.join(sorted(gaps))}")
    return [layout.events_partition(d) for d in present]


def read_inputs(spark: SparkSession, paths: dict[str, list[Path]]) -> dict[str, DataFrame]:
    """Each named input as one DataFrame over all of its paths."""
    return {name: spark.read.parquet(*map(str, files)) for name, files in paths.items()}
