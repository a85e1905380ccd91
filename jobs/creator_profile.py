"""The ``creator_profile`` job: each creator's catalogue and how it performs.

:func:`base` prepares one row per catalogue item known by the partition date, keyed by
``creator_id``; the signal expressions in :data:`content_signals.definitions.CREATOR_PROFILE`
aggregate those rows per creator. A deployment without listening events still gets every
catalogue-derived signal; the engagement one (``mean_item_plays_7d``) is null there.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from content_signals.definitions import CREATOR_PROFILE
from content_signals.jobs.inputs import Catalogue, ListeningEvents, PartitionDate
from content_signals.jobs.schema import events_in_window
from content_signals.jobs.signal_job import SignalJob

ENGAGEMENT_DAYS = 7


def base(content: DataFrame, events: DataFrame | None, day: date) -> DataFrame:
    """One row per item with a creator, released on or before ``day`` or with no release date.

    Columns: every catalogue column, ``released_days_ago`` (days from release to ``day``; null
    when unknown), ``normalised_title`` (lower case, runs of non-letters collapsed to one space,
    trimmed; null when nothing is left) and ``plays_7d`` (the item's listening events in the 7
    days ending with ``day``; 0 without any). ``events`` is ``None`` in a deployment without
    listening events: ``plays_7d`` is then null, because nobody knows how often the item was played,
    and a 0 would tell ranking it never was.
    """
    partition_date = F.lit(day.isoformat()).cast("date")
    normalised = F.trim(F.regexp_replace(F.lower(F.col("title")), r"[^\p{L}]+", " "))
    items = content.where(
        (F.length(F.trim(F.col("creator_id"))) > 0)
        & (F.col("release_date").isNull() | (F.col("release_date") <= partition_date))
    )
    described = items.withColumn(
        "released_days_ago", F.datediff(partition_date, F.col("release_date"))
    ).withColumn("normalised_title", F.when(F.length(normalised) > 0, normalised))
    if events is None:
        return described.withColumn("plays_7d", F.lit(None).cast("long"))
    plays = (
        events_in_window(events, day, ENGAGEMENT_DAYS)
        .groupBy("content_id")
        .agg(F.count(F.lit(1)).alias("plays_7d"))
    )
    return described.join(plays, "content_id", "left").fillna(0, subset=["plays_7d"])


JOB = SignalJob(
    CREATOR_PROFILE,
    # Optional: most of a creator's profile comes from the catalogue alone.
    inputs=(Catalogue(), ListeningEvents(days=ENGAGEMENT_DAYS, optional=True), PartitionDate()),
    transform=base,
)
