"""The ``content_metadata`` job: what each item is and how well it is described.

:func:`base` is a pure ``DataFrame -> DataFrame`` transform that prepares the columns the signal
expressions in :data:`content_signals.definitions.CONTENT_METADATA` read; :func:`input_paths` and
:func:`build` are the I/O edge.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.config import ModelsConfig
from content_signals.definitions import CONTENT_METADATA, SignalTable
from content_signals.jobs.inputs import require
from content_signals.jobs.lexicon_counts import with_text_stats
from content_signals.jobs.schema import compute_partition
from content_signals.layout import DataLayout

TABLE = CONTENT_METADATA


def base(content: DataFrame, day: date) -> DataFrame:
    """Catalogue rows plus the columns the signal expressions use.

    ``title_clean`` and ``description_clean`` (trimmed, '' when missing), ``full_text`` (both
    joined by a space), ``partition_date``, and the word, letter and emoji statistics of
    :func:`jobs.lexicon_counts.with_text_stats` (``title_word_count``,
    ``title_distinct_word_count``, ``text_word_count``, ``text_distinct_word_count``,
    ``title_letter_count``, ``title_upper_count``, ``has_emoji``, ``has_url``), counted over Arrow batches
    because Spark's regular expressions over long descriptions cost several times the job's I/O.
    Every catalogue column stays available (``language`` is null for catalogues without one).
    """
    if "language" not in content.columns:
        content = content.withColumn("language", F.lit(None).cast("string"))
    title = F.trim(F.coalesce(F.col("title"), F.lit("")))
    description = F.trim(F.coalesce(F.col("description"), F.lit("")))
    return (
        with_text_stats(content)
        .withColumn("title_clean", title)
        .withColumn("description_clean", description)
        .withColumn("full_text", F.concat_ws(" ", F.col("title_clean"), F.col("description_clean")))
        .withColumn("partition_date", F.lit(day.isoformat()).cast("date"))
    )


def compute(content: DataFrame, day: date, created_at: datetime, table: SignalTable = TABLE) -> DataFrame:
    """The partition for ``day``: one row per catalogue item."""
    return compute_partition(table, base(content, day), day, created_at)


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    return {"content": [require(layout.content_path, "catalogue")]}


def build(
    spark: SparkSession,
    layout: DataLayout,
    day: date,
    created_at: datetime,
    table: SignalTable = TABLE,
    models: ModelsConfig | None = None,  # no model runs in this job
) -> DataFrame:
    content = spark.read.parquet(*map(str, input_paths(layout, day)["content"]))
    return compute(content, day, created_at, table)
