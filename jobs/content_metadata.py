"""The ``content_metadata`` job: what each item is and how well it is described.

:func:`base` is a pure ``DataFrame -> DataFrame`` transform that prepares the columns the signal
expressions in :data:`content_signals.definitions.CONTENT_METADATA` read; the runner reads the
catalogue and evaluates the expressions.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_METADATA
from content_signals.jobs.inputs import Catalogue, PartitionDate
from content_signals.jobs.lexicon_counts import with_text_stats
from content_signals.jobs.signal_job import SignalJob


def base(content: DataFrame, day: date) -> DataFrame:
    """Catalogue rows plus the columns the signal expressions use.

    ``title_clean`` and ``description_clean`` (trimmed, '' when missing), ``full_text`` (both
    joined by a space), ``partition_date``, and the word, letter and emoji statistics of
    :func:`content_signals.jobs.lexicon_counts.with_text_stats` (``title_word_count``,
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


JOB = SignalJob(CONTENT_METADATA, inputs=(Catalogue(), PartitionDate()), transform=base)
