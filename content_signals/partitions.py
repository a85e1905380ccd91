"""Daily partitions: their schema and timestamp, and writing them so that no reader ever sees half
of one.

A partition is written in full under ``staging/`` and then moved into place with ``rename``, which
is atomic on a local or POSIX file system. Replacing an existing partition is two renames a few
microseconds apart (old out, new in); a reader listing the table in between sees the table without
that day rather than a mix of two runs. Object stores need a table format (Delta, Iceberg) for the
same guarantee: see ``infra/README.md``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, DType, SignalTable
from content_signals.layout import DataLayout, partition_name


@dataclass(frozen=True)
class QuarantinedPartition:
    path: Path
    run_id: str


def _write_parquet(frame: DataFrame, path: Path) -> None:
    frame.write.mode("errorifexists").parquet(str(path))


def swap_into_place(staged: Path, target: Path) -> None:
    """Move the fully written ``staged`` folder to ``target``, replacing what was there.

    ``staged`` must be on the same file system as ``target`` (it is: both live under the data
    directory), so each step is a rename. The replaced folder is deleted only after the new one is
    in place.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    replaced = staged.with_name(staged.name + ".replaced")
    if target.exists():
        target.rename(replaced)
    staged.rename(target)
    if replaced.exists():
        shutil.rmtree(replaced)


# The run that wrote a published partition, in the partition's folder (Spark, pyarrow and Feast skip
# files whose names start with "_"): what is built from a partition (a vector index) records it.
RUN_ID_FILE = "_run_id"


def mark_run(partition_dir: Path, run_id: str) -> None:
    """Record ``run_id`` as the run that wrote ``partition_dir`` (before it is swapped into place)."""
    (partition_dir / RUN_ID_FILE).write_text(run_id + "\n")


def partition_run_id(partition_dir: Path) -> str | None:
    """The run that wrote the published partition ``partition_dir``; None for a partition published
    before runs were recorded in it."""
    try:
        return (partition_dir / RUN_ID_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def publish_partition(frame: DataFrame, layout: DataLayout, table: str, day: date, run_id: str) -> Path:
    """Write ``frame`` as the partition of ``table`` for ``day``, replacing any earlier run."""
    staged = layout.staging_dir / table / f"{partition_name(day)}.{run_id}"
    _write_parquet(frame, staged)
    mark_run(staged, run_id)
    target = layout.signal_partition(table, day)
    swap_into_place(staged, target)
    return target


def quarantine_partition(
    frame: DataFrame,
    layout: DataLayout,
    table: str,
    day: date,
    run_id: str,
    validation: dict[str, Any],
) -> QuarantinedPartition:
    """Keep a batch that failed the gate, with its validation result, where nothing reads it."""
    destination = layout.quarantine_dir(table, day) / run_id
    staged = layout.staging_dir / table / f"quarantine.{partition_name(day)}.{run_id}"
    _write_parquet(frame, staged / "data")
    (staged / "validation.json").write_text(json.dumps(validation, indent=2, default=str))
    destination.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(destination)
    return QuarantinedPartition(path=destination, run_id=run_id)


def quarantined_runs(layout: DataLayout, table: str, day: date) -> list[Path]:
    folder = layout.quarantine_dir(table, day)
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []


def partition_timestamp(day: date) -> datetime:
    """The event timestamp of every row in a daily partition: the end of that UTC day.

    Values computed from data up to the end of ``day`` are known from this instant on, so
    point-in-time joins never see them earlier.
    """
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def previous_partition(layout: DataLayout, table: str, day: date) -> tuple[date, Path] | None:
    """The newest published partition of ``table`` dated before ``day``, if any."""
    folder = layout.signal_table_dir(table)
    if not folder.exists():
        return None
    dates = []
    for child in folder.iterdir():
        if child.is_dir() and child.name.startswith("date="):
            try:
                dates.append(date.fromisoformat(child.name.removeprefix("date=")))
            except ValueError:
                continue
    earlier = [d for d in dates if d < day]
    if not earlier:
        return None
    newest = max(earlier)
    return newest, layout.signal_partition(table, newest)


SPARK_TYPES: dict[DType, T.DataType] = {
    "int64": T.LongType(),
    "double": T.DoubleType(),
    "string": T.StringType(),
    "bool": T.BooleanType(),
    # Elements may be null as far as the type goes (Parquet reads lists back that way, and Spark
    # cannot cast that away); the gate checks every vector's length instead.
    "float_vector": T.ArrayType(T.FloatType(), containsNull=True),
}


def output_schema(table: SignalTable) -> T.StructType:
    """The exact schema a partition of ``table`` is written with."""
    fields = [
        T.StructField(table.entity.join_key, T.StringType(), nullable=False),
        T.StructField(ENTITY_TIMESTAMP, T.TimestampType(), nullable=False),
        T.StructField(CREATED_TIMESTAMP, T.TimestampType(), nullable=False),
    ]
    fields += [
        T.StructField(signal.name, SPARK_TYPES[signal.dtype], nullable=signal.nullable)
        for signal in table.signals
    ]
    return T.StructType(fields)
