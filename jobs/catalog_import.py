"""Import a real catalogue file (public Spotify track datasets) into the platform's schema.

:func:`normalise` is the pure transform: every source row comes out once, either accepted
(``reject_reason`` null) or with the first reason it cannot be imported. Nothing is dropped
silently: rejected rows are written, with their reason, next to the catalogue.
"""

from __future__ import annotations

import ast
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from content_signals.catalog_mapping import CatalogMapping
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.partitions import swap_into_place

REJECT_REASON = "reject_reason"
# In the order they are checked: a row is reported under the first that applies.
REJECT_REASONS = (
    "missing_id",
    "duplicate_id",
    "missing_title",
    "bad_duration",
    "bad_explicit",
    "bad_release_date",
    "bad_creators",
)
_ROW = "_source_row"
_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")


@dataclass(frozen=True)
class ImportSummary:
    source: str
    imported: int
    creators: int
    rejected: dict[str, int]
    seconds: float

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def describe(self) -> str:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(self.rejected.items())) or "none"
        return (
            f"imported {self.imported:,} items and {self.creators:,} creators from {self.source}; "
            f"rejected {self.rejected_total:,} rows ({reasons}) in {self.seconds:.1f}s"
        )


@F.pandas_udf(T.ArrayType(T.StringType()))  # type: ignore[call-overload]
def parse_python_list(cells: pd.Series) -> pd.Series:
    """``"['a', "b's"]"`` -> ``['a', "b's"]``; anything that is not a list of scalars -> null."""

    def parse(cell: object) -> list[str] | None:
        if not isinstance(cell, str):
            return None
        try:
            value = ast.literal_eval(cell.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
        if not isinstance(value, list | tuple) or any(isinstance(v, list | tuple | dict) for v in value):
            return None
        return [str(v).strip() for v in value]

    return cells.map(parse)


def _blank_to_null(column: str | None) -> Column:
    if column is None:
        return F.lit(None).cast("string")
    trimmed = F.trim(F.col(f"`{column}`"))
    return F.when(trimmed != "", trimmed)


def _parse_list(cell: Column, mapping: CatalogMapping) -> Column:
    if mapping.list_format == "python":
        return parse_python_list(cell)
    parts = F.transform(F.split(cell, mapping.list_separator, -1), lambda p: F.trim(p))
    return F.when(cell.isNotNull(), parts)


def _release_date(text: Column) -> Column:
    """YYYY, YYYY-MM or YYYY-MM-DD -> a date (first day of the year or month when not given)."""
    full = (
        F.when(text.rlike(r"^\d{4}$"), F.concat(text, F.lit("-01-01")))
        .when(text.rlike(r"^\d{4}-\d{2}$"), F.concat(text, F.lit("-01")))
        .when(text.rlike(r"^\d{4}-\d{2}-\d{2}$"), text)
    )
    return F.try_to_date(full, "yyyy-MM-dd")


def normalise(source: DataFrame, mapping: CatalogMapping) -> DataFrame:
    """Source rows (all strings) -> platform catalogue rows plus ``reject_reason`` and ``source``."""
    cols = mapping.columns
    content_id = _blank_to_null(cols.content_id)
    title = _blank_to_null(cols.title)
    duration = F.col(f"`{cols.duration_ms}`").try_cast("double")
    explicit_text = F.lower(_blank_to_null(cols.explicit))
    explicit = F.when(explicit_text.isin(*_TRUE), True).when(explicit_text.isin(*_FALSE), False)
    release_text = _blank_to_null(cols.release_date)
    release = _release_date(release_text)
    creator_ids = _parse_list(_blank_to_null(cols.creator_ids), mapping)
    creator_names = (
        _parse_list(_blank_to_null(cols.creator_names), mapping)
        if cols.creator_names
        else F.lit(None).cast("array<string>")
    )
    first_seen = Window.partitionBy(content_id).orderBy(_ROW)

    frame = source.select(
        "*",
        content_id.alias("_id"),
        F.row_number().over(first_seen).alias("_occurrence"),
        title.alias("_title"),
        duration.alias("_duration"),
        explicit_text.alias("_explicit_text"),
        explicit.alias("_explicit"),
        release_text.alias("_release_text"),
        release.alias("_release"),
        creator_ids.alias("_creator_ids"),
        creator_names.alias("_creator_names"),
    )
    bad_creators = (
        F.col("_creator_ids").isNull()
        | (F.size("_creator_ids") == 0)
        | F.exists("_creator_ids", lambda c: c == "")
        | (F.col("_creator_names").isNotNull() & (F.size("_creator_names") != F.size("_creator_ids")))
    )
    reason = (
        F.when(F.col("_id").isNull(), "missing_id")
        .when(F.col("_occurrence") > 1, "duplicate_id")
        .when(F.col("_title").isNull(), "missing_title")
        .when(F.col("_duration").isNull() | (F.col("_duration") <= 0), "bad_duration")
        .when(F.col("_explicit_text").isNotNull() & F.col("_explicit").isNull(), "bad_explicit")
        .when(F.col("_release_text").isNotNull() & F.col("_release").isNull(), "bad_release_date")
        .when(bad_creators, "bad_creators")
    )
    audio = [
        F.col(f"`{source_col}`").try_cast("double").alias(name) for name, source_col in mapping.audio.items()
    ]
    # The source row is kept whole (as a struct, since its column names may clash with ours) so that
    # a rejected row can be written back exactly as it was read.
    source_row = F.struct(*[F.col(f"`{c}`") for c in source.columns if c != _ROW]).alias("source")
    return frame.select(
        source_row,
        F.col(_ROW),
        reason.alias(REJECT_REASON),
        F.col("_id").alias("content_id"),
        F.lit(mapping.content_type).alias("content_type"),
        F.col("_title").alias("title"),
        _blank_to_null(cols.description).alias("description"),
        F.get("_creator_ids", 0).alias("creator_id"),
        F.col("_duration").cast("long").alias("duration_ms"),
        F.col("_explicit").alias("explicit"),
        F.col("_release").alias("release_date"),
        _blank_to_null(cols.language).alias("language"),
        F.col("_creator_ids").alias("creator_ids"),
        F.col("_creator_names").alias("creator_names"),
        *audio,
    )


CONTENT_COLUMNS = (
    "content_id", "content_type", "title", "description", "creator_id",
    "duration_ms", "explicit", "release_date", "language",
)  # fmt: skip


def creators(accepted: DataFrame) -> DataFrame:
    """Every credited creator once, with the first name seen for its id."""
    pairs = accepted.select(
        F.posexplode("creator_ids").alias("position", "creator_id"),
        F.col("creator_names"),
        F.col(_ROW),
    ).select(
        "creator_id",
        F.get("creator_names", F.col("position")).alias("name"),
        F.col(_ROW),
    )
    return pairs.groupBy("creator_id").agg(
        F.min_by("name", _ROW).alias("name"), F.lit(None).cast("date").alias("joined_date")
    )


def read_source(spark: SparkSession, path: Path, mapping: CatalogMapping) -> DataFrame:
    if not path.is_file():
        raise SignalsError(f"catalogue file {path} does not exist")
    reader = spark.read.option("header", True).option("sep", mapping.delimiter).option("mode", "PERMISSIVE")
    reader = reader.option("quote", mapping.quote if mapping.quote is not None else "\u0000")
    if mapping.quote is not None:
        reader = reader.option("escape", mapping.quote).option("multiLine", True)
    frame = reader.csv(str(path))
    missing = [c for c in mapping.source_columns() if c not in frame.columns]
    if missing:
        raise SignalsError(
            f"{path.name} does not match mapping {mapping.name!r}: missing columns {', '.join(missing)}"
        )
    return frame.withColumn(_ROW, F.monotonically_increasing_id())


def import_catalog(
    spark: SparkSession,
    layout: DataLayout,
    path: Path,
    mapping: CatalogMapping,
    progress: Callable[[str], None] = lambda _line: None,
) -> ImportSummary:
    """Replace the catalogue with the accepted rows of ``path``; write the rejects beside it."""
    started = time.perf_counter()
    source = read_source(spark, path, mapping)
    rows = normalise(source, mapping).persist()
    try:
        progress(f"read {rows.count():,} rows from {path.name} with mapping {mapping.name}")
        accepted = rows.where(F.col(REJECT_REASON).isNull())
        rejected = rows.where(F.col(REJECT_REASON).isNotNull())
        staged = layout.staging_dir / f"catalog.{uuid.uuid4().hex[:8]}"
        accepted.select(*CONTENT_COLUMNS).write.parquet(str(staged / "content.parquet"))
        creator_rows = creators(accepted)
        creator_rows.write.parquet(str(staged / "creators.parquet"))
        if mapping.audio:
            accepted.select("content_id", *mapping.audio).write.parquet(
                str(staged / "audio_features.parquet")
            )
        rejected.select("source.*", REJECT_REASON).coalesce(1).write.option("header", True).csv(
            str(staged / "import_rejects")
        )
        counts = {r[REJECT_REASON]: r["count"] for r in rejected.groupBy(REJECT_REASON).count().collect()}
        imported = spark.read.parquet(str(staged / "content.parquet")).count()
        creator_count = spark.read.parquet(str(staged / "creators.parquet")).count()
        swap_into_place(staged, layout.catalog_dir)
    finally:
        rows.unpersist()
    return ImportSummary(
        source=str(path),
        imported=imported,
        creators=creator_count,
        rejected=counts,
        seconds=time.perf_counter() - started,
    )
