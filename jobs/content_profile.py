"""The ``content_profile`` job: descriptive and engagement signals per content item.

:func:`compute` is a pure ``DataFrame -> DataFrame`` transform, tested on hand-written rows;
:func:`input_paths` and :func:`build` are the I/O edge that reads the catalogue and the events it needs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_PROFILE
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from jobs.inputs import require
from jobs.schema import as_partition, partition_timestamp, timestamp_literal

TABLE = CONTENT_PROFILE
ENGAGEMENT_WINDOW_DAYS = 7

# Upper bounds (exclusive, in seconds) of every duration bucket but the last.
_DURATION_BUCKET_LIMITS = ((120, "under_2m"), (300, "2m_to_5m"), (1200, "5m_to_20m"), (3600, "20m_to_60m"))


def _present(column: str) -> Column:
    """1 when a text column holds something other than whitespace, else 0."""
    return F.when(F.length(F.trim(F.col(column))) > 0, 1).otherwise(0)


def _duration_bucket(seconds: Column) -> Column:
    bucket = F.when(seconds.isNull(), F.lit("unknown"))
    for limit, name in _DURATION_BUCKET_LIMITS:
        bucket = bucket.when(seconds < limit, F.lit(name))
    return bucket.otherwise(F.lit("over_60m"))


def engagement(events: DataFrame, day: date) -> DataFrame:
    """Plays and listeners per content item over the window ending at the end of ``day``.

    Only events strictly before the end of ``day`` count, so a partition never includes anything
    that happened after its own event timestamp.
    """
    window_end = partition_timestamp(day)
    window_start = window_end - timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    day_start = window_end - timedelta(days=1)
    in_window = events.where(
        (F.col("event_timestamp") >= timestamp_literal(window_start))
        & (F.col("event_timestamp") < timestamp_literal(window_end))
    )
    return in_window.groupBy("content_id").agg(
        F.sum(F.when(F.col("event_timestamp") >= timestamp_literal(day_start), 1).otherwise(0))
        .cast("long")
        .alias("plays_1d"),
        F.count(F.lit(1)).alias("plays_7d"),
        F.countDistinct("user_id").alias("listeners_7d"),
    )


def compute(content: DataFrame, events: DataFrame, day: date, created_at: datetime) -> DataFrame:
    """The ``content_profile`` partition for ``day``: one row per catalogue item."""
    duration_seconds = F.col("duration_ms").cast("double") / 1000.0
    completeness_parts = [
        _present("title"),
        _present("description"),
        _present("creator_id"),
        F.col("duration_ms").isNotNull().cast("int"),
        F.col("explicit").isNotNull().cast("int"),
        F.col("release_date").isNotNull().cast("int"),
    ]
    completeness = sum(completeness_parts[1:], completeness_parts[0]) / float(len(completeness_parts))
    days_since_release = F.datediff(F.lit(day.isoformat()).cast("date"), F.col("release_date"))

    profile = content.select(
        "content_id",
        F.length(F.trim(F.coalesce(F.col("title"), F.lit("")))).alias("title_length"),
        F.length(F.trim(F.coalesce(F.col("description"), F.lit("")))).alias("description_length"),
        completeness.alias("metadata_completeness"),
        duration_seconds.alias("duration_seconds"),
        _duration_bucket(duration_seconds).alias("duration_bucket"),
        F.when(days_since_release >= 0, days_since_release).alias("days_since_release"),
        F.coalesce(F.col("explicit"), F.lit(False)).alias("is_explicit"),
    )
    counts = engagement(events, day)
    result = profile.join(counts, on="content_id", how="left").fillna(
        0, subset=["plays_1d", "plays_7d", "listeners_7d"]
    )
    return as_partition(result, TABLE, day, created_at)


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    """The catalogue and the event partitions the window needs; raises if any is missing.

    The partition date's own events must exist. Earlier days of the window may be missing only
    where the event history has not started yet; a gap inside the history is an error, because
    it would silently undercount engagement.
    """
    require(layout.content_path, "catalogue")
    if not layout.events_partition(day).exists():
        raise SignalsError(
            f"missing input: no listening events for {day.isoformat()} at {layout.events_partition(day)}"
        )
    window = [day - timedelta(days=offset) for offset in range(ENGAGEMENT_WINDOW_DAYS)]
    present = sorted(d for d in window if layout.events_partition(d).exists())
    gaps = [d.isoformat() for d in window if d > present[0] and d not in present]
    if gaps:
        raise SignalsError(f"missing input: listening events have gaps on {', '.join(sorted(gaps))}")
    return {"content": [layout.content_path], "events": [layout.events_partition(d) for d in present]}


def build(spark: SparkSession, layout: DataLayout, day: date, created_at: datetime) -> DataFrame:
    paths = input_paths(layout, day)
    content = spark.read.parquet(*[str(p) for p in paths["content"]])
    events = spark.read.parquet(*[str(p) for p in paths["events"]])
    return compute(content, events, day, created_at)
