"""The ``text_safety_lexicon`` job: offensive-lexicon terms in each item's title and description."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.definitions import TEXT_SAFETY_LEXICON
from content_signals.layout import DataLayout
from content_signals.synthetic import offensive_lexicon
from jobs.inputs import require
from jobs.schema import as_partition

TABLE = TEXT_SAFETY_LEXICON
# Words are runs of letters, digits and apostrophes (so "don't" is one word, "f*ck" is two).
_WORD_SEPARATOR = r"[^\p{L}\p{N}']+"


def _words(text: Column) -> Column:
    return F.filter(F.split(F.lower(F.coalesce(text, F.lit(""))), _WORD_SEPARATOR), lambda w: w != "")


def compute(content: DataFrame, terms: list[str], day: date, created_at: datetime) -> DataFrame:
    lexicon = F.array(*[F.lit(t.lower()) for t in sorted(set(terms))])
    words = _words(F.concat_ws(" ", F.col("title"), F.col("description")))
    is_term = lambda word: F.array_contains(lexicon, word)  # noqa: E731
    word_count = F.size(words)
    term_count = F.size(F.filter(words, is_term))
    result = content.select(
        "content_id",
        word_count.alias("text_word_count"),
        term_count.alias("lexicon_term_count"),
        F.when(word_count > 0, term_count / word_count).otherwise(0.0).alias("lexicon_term_rate"),
        F.exists(_words(F.col("title")), is_term).alias("title_has_lexicon_term"),
    )
    return as_partition(result, TABLE, day, created_at)


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    return {"content": [require(layout.content_path, "catalogue")]}


def build(spark: SparkSession, layout: DataLayout, day: date, created_at: datetime) -> DataFrame:
    content = spark.read.parquet(*map(str, input_paths(layout, day)["content"]))
    return compute(content, offensive_lexicon(), day, created_at)
