"""Profiles of a partition's key signals: what drift and row-count checks compare against.

One aggregation pass computes, for every key (``drift=True``) signal, its mean, standard deviation,
approximate median and null rate, plus the row count. The previous published partition's profile
sets the parameters of the next partition's anomaly expectations (Deequ-style checks built from
history); the current partition's profile is recorded with its validation run for the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.definitions import SignalTable
from content_signals.layout import DataLayout
from content_signals.partitions import previous_partition

# percentile_approx accuracy: relative rank error about 1/accuracy.
_MEDIAN_ACCURACY = 1000


@dataclass(frozen=True)
class ColumnProfile:
    mean: float | None
    stddev: float | None
    p50: float | None
    null_rate: float

    def as_dict(self) -> dict[str, float | None]:
        return {"mean": self.mean, "stddev": self.stddev, "p50": self.p50, "null_rate": self.null_rate}


@dataclass(frozen=True)
class PartitionProfile:
    partition: date | None
    rows: int
    columns: dict[str, ColumnProfile]

    def stats(self) -> dict[str, dict[str, float | None]]:
        return {name: column.as_dict() for name, column in self.columns.items()}


def drift_signals(table: SignalTable) -> list[str]:
    """The table's key numeric signals (booleans and strings have no mean to drift)."""
    return [s.name for s in table.signals if s.drift and s.dtype in ("int64", "double")]


def profile(frame: DataFrame, table: SignalTable, partition: date | None = None) -> PartitionProfile:
    """Row count and each key signal's mean, stddev, median and null rate, in one pass."""
    names = [n for n in drift_signals(table) if n in frame.columns]
    aggregates = [F.count(F.lit(1)).alias("rows")]
    for i, name in enumerate(names):
        value = F.col(name).cast("double")
        aggregates += [
            F.avg(value).alias(f"mean{i}"),
            F.stddev_pop(value).alias(f"std{i}"),
            F.percentile_approx(value, 0.5, _MEDIAN_ACCURACY).alias(f"p50{i}"),
            F.sum(F.when(value.isNull(), 1).otherwise(0)).alias(f"nulls{i}"),
        ]
    row = frame.agg(*aggregates).first()
    assert row is not None
    rows = int(row["rows"])
    columns = {
        name: ColumnProfile(
            mean=row[f"mean{i}"],
            stddev=row[f"std{i}"],
            p50=row[f"p50{i}"],
            null_rate=(row[f"nulls{i}"] or 0) / rows if rows else 0.0,
        )
        for i, name in enumerate(names)
    }
    return PartitionProfile(partition, rows, columns)


def baseline_profile(
    spark: SparkSession, layout: DataLayout, table: SignalTable, day: date
) -> PartitionProfile | None:
    """The profile of the partition before ``day``: what today's anomaly checks compare against."""
    previous = previous_partition(layout, table.name, day)
    if previous is None:
        return None
    previous_day, path = previous
    return profile(spark.read.parquet(str(path)), table, previous_day)
