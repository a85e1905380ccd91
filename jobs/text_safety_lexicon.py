"""The ``text_safety_lexicon`` job: offensive-lexicon terms in each item's title and description."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from content_signals.definitions import TEXT_SAFETY_LEXICON, SignalTable
from content_signals.layout import DataLayout
from content_signals.synthetic import offensive_lexicon
from jobs.inputs import require
from jobs.schema import compute_partition

TABLE = TEXT_SAFETY_LEXICON
# Words are runs of letters, digits and apostrophes (so "don't" is one word, "f*ck" is two).
_WORD = re.compile(r"(?:[^\W_]|')+")
_COUNTS = T.StructType(
    [
        T.StructField("words", T.LongType()),
        T.StructField("terms", T.LongType()),
        T.StructField("title_terms", T.LongType()),
    ]
)


def count_terms(titles: pd.Series, descriptions: pd.Series, lexicon: frozenset[str]) -> pd.DataFrame:
    """Words, lexicon words, and lexicon words in the title alone, per row (plain Python)."""
    words, terms, title_terms = [], [], []
    for title, description in zip(titles, descriptions, strict=True):
        title_words = _WORD.findall(title.lower()) if isinstance(title, str) else []
        body_words = _WORD.findall(description.lower()) if isinstance(description, str) else []
        in_title = sum(1 for w in title_words if w in lexicon)
        words.append(len(title_words) + len(body_words))
        title_terms.append(in_title)
        terms.append(in_title + sum(1 for w in body_words if w in lexicon))
    return pd.DataFrame({"words": words, "terms": terms, "title_terms": title_terms})


def base(content: DataFrame, terms: list[str]) -> DataFrame:
    """One row per item: ``text_word_count``, ``lexicon_term_count``, ``title_lexicon_term_count``."""
    lexicon = frozenset(t.lower() for t in terms)

    @F.pandas_udf(_COUNTS)  # type: ignore[call-overload]
    def counts(titles: pd.Series, descriptions: pd.Series) -> pd.DataFrame:
        return count_terms(titles, descriptions, lexicon)

    counted = content.select("content_id", counts(F.col("title"), F.col("description")).alias("c"))
    return counted.select(
        "content_id",
        F.col("c.words").alias("text_word_count"),
        F.col("c.terms").alias("lexicon_term_count"),
        F.col("c.title_terms").alias("title_lexicon_term_count"),
    )


def compute(
    content: DataFrame, terms: list[str], day: date, created_at: datetime, table: SignalTable = TABLE
) -> DataFrame:
    return compute_partition(table, base(content, terms), day, created_at)


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    return {"content": [require(layout.content_path, "catalogue")]}


def build(
    spark: SparkSession, layout: DataLayout, day: date, created_at: datetime, table: SignalTable = TABLE
) -> DataFrame:
    content = spark.read.parquet(*map(str, input_paths(layout, day)["content"]))
    return compute(content, offensive_lexicon(), day, created_at, table)
