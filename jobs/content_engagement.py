"""The ``content_engagement`` job: plays, listeners, skips, completions and saves per item.

:func:`base` aggregates the listening events of the longest window to one row per (item,
listener) with counts per window; the signal expressions in
:data:`content_signals.definitions.CONTENT_ENGAGEMENT` aggregate those rows per item. Only events
strictly before the end of the partition date count, so a partition never includes anything that
happened after its own event timestamp.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from content_signals.definitions import COMPLETION_SHARE, CONTENT_ENGAGEMENT, ENGAGEMENT_WINDOWS, SKIP_MS
from content_signals.jobs.inputs import Catalogue, ListeningEvents, PartitionDate
from content_signals.jobs.schema import events_in_window, timestamp_literal
from content_signals.jobs.signal_job import SignalJob
from content_signals.partitions import partition_timestamp

LONGEST_WINDOW_DAYS = max(ENGAGEMENT_WINDOWS)
COUNTS = ("plays", "skips", "completions", "saves")


def _count(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0)).cast("long")


def base(content: DataFrame, events: DataFrame, day: date) -> DataFrame:
    """One row per (``content_id``, ``user_id``) with ``plays_Nd``, ``skips_Nd``,
    ``completions_Nd`` and ``saves_Nd`` for each window N in ``ENGAGEMENT_WINDOWS``.

    An item without events in the window gets one row with zero counts and a null ``user_id``, so
    every catalogue item gets a partition row. ``completions_Nd`` is null when the item's duration
    is unknown. Events of items that are not in the catalogue are ignored.
    """
    window_end = partition_timestamp(day)
    durations = content.select("content_id", "duration_ms")
    # Clustering the events by item once lets the per-listener aggregation, the join with the
    # catalogue and the per-item aggregation all run without another shuffle.
    in_window = (
        events_in_window(events, day, LONGEST_WINDOW_DAYS)
        .select("content_id", "user_id", "event_timestamp", "ms_played", "saved")
        .join(F.broadcast(durations), "content_id")
        .repartition("content_id")
    )
    counts = []
    for days in ENGAGEMENT_WINDOWS:
        inside = F.col("event_timestamp") >= timestamp_literal(window_end - timedelta(days=days))
        completed = F.col("ms_played") >= F.col("duration_ms") * COMPLETION_SHARE
        counts += [
            _count(inside).alias(f"plays_{days}d"),
            _count(inside & (F.col("ms_played") < SKIP_MS)).alias(f"skips_{days}d"),
            F.when(F.first(F.col("duration_ms")).isNotNull(), _count(inside & completed)).alias(
                f"completions_{days}d"
            ),
            _count(inside & F.coalesce(F.col("saved"), F.lit(False))).alias(f"saves_{days}d"),
        ]
    per_listener = in_window.groupBy("content_id", "user_id").agg(*counts)
    zero_counts = [
        f"{kind}_{days}d" for kind in COUNTS for days in ENGAGEMENT_WINDOWS if kind != "completions"
    ]
    return content.select("content_id").join(per_listener, "content_id", "left").fillna(0, subset=zero_counts)


JOB = SignalJob(
    CONTENT_ENGAGEMENT,
    inputs=(Catalogue(), ListeningEvents(days=LONGEST_WINDOW_DAYS), PartitionDate()),
    transform=base,
)
