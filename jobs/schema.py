"""Spark schemas derived from the signal definitions (never written by hand)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from content_signals.definitions import (
    CREATED_TIMESTAMP,
    ENTITY_TIMESTAMP,
    SignalTable,
)
from content_signals.partitions import output_schema, partition_timestamp


def conform(frame: DataFrame, table: SignalTable) -> DataFrame:
    """Select the table's columns in definition order, cast to their defined types.

    Missing columns fail here, loudly, rather than in a consumer. Nullability is not enforced by the
    cast: that is the data-quality gate's job, which can quarantine instead of crash.
    """
    schema = output_schema(table)
    missing = [field.name for field in schema.fields if field.name not in frame.columns]
    if missing:
        raise ValueError(f"{table.name} job did not produce columns: {', '.join(missing)}")
    return frame.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def timestamp_literal(moment: datetime) -> Column:
    """A Spark timestamp literal for an aware datetime, independent of the JVM's time zone."""
    return F.to_timestamp(F.lit(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")))


def events_in_window(events: DataFrame, day: date, days: int) -> DataFrame:
    """Events of the ``days`` days ending with ``day``: from the start of the first day up to, and
    excluding, the end of ``day`` (the partition's event timestamp), so nothing later leaks in."""
    end = partition_timestamp(day)
    start = end - timedelta(days=days)
    return events.where(
        (F.col("event_timestamp") >= timestamp_literal(start))
        & (F.col("event_timestamp") < timestamp_literal(end))
    )


def as_partition(frame: DataFrame, table: SignalTable, day: date, created_at: datetime) -> DataFrame:
    """Stamp rows with the partition's event and creation timestamps, then :func:`conform` them."""
    stamped = frame.withColumn(ENTITY_TIMESTAMP, timestamp_literal(partition_timestamp(day))).withColumn(
        CREATED_TIMESTAMP, timestamp_literal(created_at)
    )
    return conform(stamped, table)


def evaluate_signals(table: SignalTable, base: DataFrame) -> DataFrame:
    """Evaluate every signal's SQL expression over the table's base frame.

    A ``row`` table gets one output row per base row; an ``aggregate`` table groups the base by its
    entity key, so each expression is an aggregate over that entity's base rows.
    """
    key = table.entity.join_key
    columns = [F.expr(signal.sql).alias(signal.name) for signal in table.signals]
    if table.grain == "aggregate":
        return base.groupBy(key).agg(*columns)
    return base.select(key, *columns)


def compute_partition(table: SignalTable, base: DataFrame, day: date, created_at: datetime) -> DataFrame:
    """The partition of ``table`` for ``day``: its signals over ``base``, stamped and conformed."""
    return as_partition(evaluate_signals(table, base), table, day, created_at)
