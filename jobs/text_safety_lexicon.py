"""The ``text_safety_lexicon`` job: offensive-lexicon terms in each item's title and description.

The counting is vectorised over Arrow batches (:mod:`jobs.lexicon_counts`); the signal expressions
in :data:`content_signals.definitions.TEXT_SAFETY_LEXICON` turn the counts into signals.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from content_signals.config import ModelsConfig
from content_signals.definitions import TEXT_SAFETY_LEXICON, SignalTable
from content_signals.jobs.inputs import require
from content_signals.jobs.lexicon_counts import lexicon_counts
from content_signals.jobs.schema import compute_partition
from content_signals.layout import DataLayout
from content_signals.text import offensive_lexicon

TABLE = TEXT_SAFETY_LEXICON


def base(content: DataFrame, terms: list[str]) -> DataFrame:
    """One row per item: ``text_word_count``, ``lexicon_term_count``, ``title_lexicon_term_count``.

    Words are runs of letters, digits and apostrophes (so "don't" is one word, "f*ck" is two); a
    term counts when a whole word equals a lexicon entry, case-insensitively.
    """
    return lexicon_counts(content, terms)


def compute(
    content: DataFrame, terms: list[str], day: date, created_at: datetime, table: SignalTable = TABLE
) -> DataFrame:
    return compute_partition(table, base(content, terms), day, created_at)


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
    return compute(content, offensive_lexicon(), day, created_at, table)
