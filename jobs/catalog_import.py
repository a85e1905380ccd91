"""Import a real catalogue file into the platform's schema, never losing what was already there.

:func:`normalise` is the pure transform: every source row comes out once, either accepted
(``reject_reason`` null) or with the first reason it cannot be imported. :func:`import_catalog`
judges the whole file before anything is written (:func:`~content_signals.jobs.file_import.check_acceptance`),
then merges it into the catalogue or replaces it, in one atomic swap of the catalogue folder, and
records the import. Nothing is dropped silently: rejected rows are written, with their reason,
under the import's own folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from content_signals.catalog_mapping import (
    CONTENT_TYPES,
    DERIVED_CONTENT_PREFIX,
    DERIVED_CREATOR_PREFIX,
    CatalogMapping,
)
from content_signals.errors import SignalsError
from content_signals.file_mapping import FieldSource
from content_signals.import_log import (
    APPLIED,
    DRY_RUN,
    REFUSED,
)
from content_signals.jobs.file_import import (
    REJECT_REASON,
    SOURCE_ROW,
    ImportRefused,
    ImportRun,
    RejectReport,
    id_column,
    read_source,
    refusal_reason,
    reject_report,
    source_struct,
    write_rejects,
)
from content_signals.layout import DataLayout
from content_signals.partitions import swap_into_place
from content_signals.raw_tables import CONTENT_COLUMNS, CREATOR_COLUMNS
from content_signals.value_parsers import (
    blank_to_null,
    derived_id,
    parse_boolean,
    parse_date,
    parse_duration_ms,
    parse_list,
    parse_number,
)

ImportMode = Literal["merge", "replace"]

# In the order they are checked: a row is reported under the first that applies.
REJECT_REASONS = (
    "missing_id",
    "duplicate_id",
    "missing_title",
    "bad_duration",
    "bad_explicit",
    "bad_release_date",
    "bad_creators",
    "bad_content_type",
)
# How to fix each reason, said once here and shown by the refusal line and --dry-run.
REJECT_HINTS = {
    "missing_id": "map content_id to a column filled in every row, or derive it: "
    "content_id: {derive: [artist, title, year]}",
    "duplicate_id": "rows share an id (the first is kept); with a derived id, add a column that tells "
    "them apart (album, duration) to derive",
    "missing_title": "map title to the column that holds the item's name",
    "bad_duration": "durations must be positive numbers in the field's unit or m:ss; "
    "set duration_ms: {column: ..., unit: ms|s|min}",
    "bad_explicit": "add the file's spellings: "
    "explicit: {column: ..., true_values: [...], false_values: [...]}",
    "bad_release_date": "dates are read as YYYY, YYYY-MM or YYYY-MM-DD; "
    "for another order set release_date: {column: ..., pattern: dd/MM/yyyy}",
    "bad_creators": "set list_format (python, delimited or single) and list_separator to how the "
    "file writes its artists; ids and names must have as many entries",
    "bad_content_type": f"content types must be one of {', '.join(CONTENT_TYPES)}",
}


def _cell(source: FieldSource | None) -> Column:
    if source is None or source.column is None:
        return F.lit(None).cast("string")
    return F.col(f"`{source.column}`")


def _text(source: FieldSource | None) -> Column:
    return blank_to_null(_cell(source))


def _creator_list(source: FieldSource | None, mapping: CatalogMapping) -> Column:
    if source is None:
        return F.lit(None).cast("array<string>")
    return parse_list(
        _cell(source),
        source.list_format or mapping.list_format,
        source.list_separator or mapping.list_separator,
    )


def normalise(source: DataFrame, mapping: CatalogMapping) -> DataFrame:
    """Source rows (all strings) -> catalogue rows, audio descriptors, ``creator_ids`` and
    ``creator_names`` (lists), ``reject_reason`` and ``source`` (the row as read)."""
    cols = mapping.columns
    duration_unit = cols.duration_ms.unit or "ms"
    names = _creator_list(cols.creator_names, mapping)
    ids = (
        _creator_list(cols.creator_ids, mapping)
        if cols.creator_ids is not None
        # No id column: the same name gets the same id in every file (one creator per name).
        else F.transform(names, lambda name: derived_id([name], DERIVED_CREATOR_PREFIX))
    )
    content_type = F.lower(_text(cols.content_type)) if cols.content_type else F.lit(mapping.content_type)
    explicit = cols.explicit
    release = cols.release_date
    first_seen = Window.partitionBy("_id").orderBy(SOURCE_ROW)
    frame = source.select(
        "*",
        id_column(cols.content_id, DERIVED_CONTENT_PREFIX).alias("_id"),
        _text(cols.title).alias("_title"),
        parse_duration_ms(_cell(cols.duration_ms), duration_unit).alias("_duration"),  # type: ignore[arg-type]
        _text(explicit).alias("_explicit_text"),
        (
            parse_boolean(_cell(explicit), explicit.true_spellings(), explicit.false_spellings())
            if explicit
            else F.lit(None).cast("boolean")
        ).alias("_explicit"),
        _text(release).alias("_release_text"),
        (parse_date(_cell(release), release.pattern) if release else F.lit(None).cast("date")).alias(
            "_release"
        ),
        ids.alias("_creator_ids"),
        names.alias("_creator_names"),
        content_type.alias("_content_type"),
    ).withColumn("_occurrence", F.row_number().over(first_seen))
    bad_creators = (
        F.col("_creator_ids").isNull()
        | (F.col("_creator_names").isNotNull() & (F.size("_creator_names") != F.size("_creator_ids")))
        | (F.lit(cols.creator_names is not None) & F.col("_creator_names").isNull())
    )
    reason = (
        F.when(F.col("_id").isNull(), "missing_id")
        .when(F.col("_occurrence") > 1, "duplicate_id")
        .when(F.col("_title").isNull(), "missing_title")
        .when(F.col("_duration").isNull(), "bad_duration")
        .when(F.col("_explicit_text").isNotNull() & F.col("_explicit").isNull(), "bad_explicit")
        .when(F.col("_release_text").isNotNull() & F.col("_release").isNull(), "bad_release_date")
        .when(bad_creators, "bad_creators")
        .when(~F.coalesce(F.col("_content_type").isin(*CONTENT_TYPES), F.lit(False)), "bad_content_type")
    )
    audio = [parse_number(F.col(f"`{column}`")).alias(name) for name, column in mapping.audio.items()]
    return frame.select(
        source_struct(source),
        F.col(SOURCE_ROW),
        reason.alias(REJECT_REASON),
        F.col("_id").alias("content_id"),
        F.col("_content_type").alias("content_type"),
        F.col("_title").alias("title"),
        _text(cols.description).alias("description"),
        F.get("_creator_ids", 0).alias("creator_id"),
        F.col("_duration").alias("duration_ms"),
        F.col("_explicit").alias("explicit"),
        F.col("_release").alias("release_date"),
        _text(cols.language).alias("language"),
        F.col("_creator_ids").alias("creator_ids"),
        F.col("_creator_names").alias("creator_names"),
        *audio,
    )


def conform(frame: DataFrame, columns: dict[str, str]) -> DataFrame:
    """Exactly ``columns``, in order, with their types (the catalogue's schema, whoever wrote it)."""
    return frame.select([F.col(name).cast(dtype).alias(name) for name, dtype in columns.items()])


def creators(accepted: DataFrame) -> DataFrame:
    """Every credited creator once, with the first name seen for its id (null when the file has
    no names)."""
    pairs = accepted.select(
        F.posexplode("creator_ids").alias("position", "creator_id"),
        F.col("creator_names"),
        F.col(SOURCE_ROW),
    ).select(
        "creator_id",
        F.get("creator_names", F.col("position")).alias("name"),
        F.col(SOURCE_ROW),
    )
    found = pairs.groupBy("creator_id").agg(F.min_by("name", SOURCE_ROW).alias("name"))
    return conform(found.withColumn("joined_date", F.lit(None)), CREATOR_COLUMNS)


def upsert(existing: DataFrame | None, incoming: DataFrame, key: str) -> DataFrame:
    """``incoming`` rows, plus every ``existing`` row whose ``key`` it does not have."""
    if existing is None:
        return incoming
    kept = existing.join(incoming.select(key), key, "left_anti")
    return kept.unionByName(incoming, allowMissingColumns=True)


def change_counts(
    existing: DataFrame | None, incoming: DataFrame, key: str, replacing: bool
) -> dict[str, int]:
    """How ``incoming`` changes ``existing`` by ``key``: added, updated (any value differs, nulls
    compared as values), unchanged, and (when replacing) removed."""
    if existing is None:
        return {"added": incoming.count(), "updated": 0, "unchanged": 0, "removed": 0}
    columns = [c for c in incoming.columns if c != key and c in existing.columns]
    fingerprint = F.xxhash64(*[F.coalesce(F.col(c).cast("string"), F.lit("\u0000null")) for c in columns])
    ours = incoming.select(key, fingerprint.alias("_new"))
    theirs = existing.select(key, fingerprint.alias("_old"))
    joined = ours.join(theirs, key, "full_outer")
    row = joined.agg(
        F.count_if(F.col("_old").isNull()).alias("added"),
        F.count_if(
            F.col("_new").isNotNull() & F.col("_old").isNotNull() & (F.col("_new") != F.col("_old"))
        ).alias("updated"),
        F.count_if(F.col("_new") == F.col("_old")).alias("unchanged"),
        F.count_if(F.col("_new").isNull()).alias("absent"),
    ).first()
    assert row is not None
    return {
        "added": int(row["added"]),
        "updated": int(row["updated"]),
        "unchanged": int(row["unchanged"]),
        "removed": int(row["absent"]) if replacing else 0,
    }


@dataclass(frozen=True)
class ImportSummary:
    source: str
    import_id: str
    mode: ImportMode
    outcome: str
    report: RejectReport
    # Catalogue changes by content id: added, updated, unchanged, removed (replace only).
    changes: dict[str, int]
    items: int  # in the catalogue after the import (or that it would have, for a dry run)
    creators: int
    seconds: float
    rejects_path: str = ""
    derived_ids: list[str] = field(default_factory=list)
    # A dry run of a file the real import would refuse says so (the refusal's one line).
    refused_because: str = ""

    @property
    def imported(self) -> int:
        return self.report.accepted

    @property
    def rejected(self) -> dict[str, int]:
        return self.report.counts

    @property
    def rejected_total(self) -> int:
        return self.report.rejected

    def describe(self) -> str:
        c = self.changes
        holds = "would hold" if self.outcome == DRY_RUN else "now holds"
        lines = [
            f"{'dry run of ' if self.outcome == DRY_RUN else ''}{self.mode} import {self.import_id} "
            f"from {self.source}: {self.report.accepted:,} of {self.report.rows:,} rows accepted; "
            f"{c['added']:,} added, {c['updated']:,} updated, {c['unchanged']:,} unchanged"
            + (f", {c['removed']:,} removed" if self.mode == "replace" else "")
            + f", {self.report.rejected:,} rejected; the catalogue {holds} {self.items:,} items "
            f"and {self.creators:,} creators ({self.seconds:.1f}s)"
        ]
        if self.derived_ids:
            lines.append("ids derived from " + "; ".join(self.derived_ids))
        if self.report.counts:
            lines += self.report.describe(REJECT_HINTS)[1:]
        if self.refused_because:
            lines.append("the import would be REFUSED: " + self.refused_because)
        if self.rejects_path:
            lines.append(f"rejected rows, with their reason: {self.rejects_path}")
        return "\n".join(lines)


def _read_existing(spark: SparkSession, path: Path) -> DataFrame | None:
    return spark.read.parquet(str(path)) if path.exists() else None


def import_catalog(
    spark: SparkSession,
    layout: DataLayout,
    path: Path,
    mapping: CatalogMapping,
    progress: Callable[[str], None] = lambda _line: None,
    mode: ImportMode | None = None,
    min_accepted_share: float = 0.5,
    dry_run: bool = False,
) -> ImportSummary:
    """Merge ``path`` into the catalogue (``mode`` merge, the default once one exists) or replace
    it (``replace``, the default for the first import), in one atomic swap.

    Raises :class:`~content_signals.jobs.file_import.ImportRefused`, changing nothing, unless at
    least one row and ``min_accepted_share`` of the rows are accepted. ``dry_run`` judges the file
    and counts what would change, and writes nothing. Every import is recorded in the import log.
    """
    source = read_source(spark, path, mapping, "catalogue")
    existing_content = _read_existing(spark, layout.content_path)
    mode = mode or ("merge" if existing_content is not None else "replace")
    run = ImportRun("catalog", path, mapping, mode)
    rows = normalise(source, mapping).persist()
    try:
        report = reject_report(rows, [c for c in source.columns if c != SOURCE_ROW])
        progress(f"read {report.rows:,} rows from {path.name} with mapping {mapping.name}")
        derived = [f"{name}: {s.describe()}" for name, s in mapping.fields().items() if s.derive]
        if not mapping.columns.creator_ids:
            derived.append("creator_ids: the creator names")
        rejected = rows.where(F.col(REJECT_REASON).isNotNull())
        refused_because = refusal_reason(report, min_accepted_share, REJECT_HINTS, path)
        if refused_because and not dry_run:
            where = str(write_rejects(rejected, layout, run.import_id)) if report.rejected else ""
            run.record(layout, REFUSED, report, {}, where, refused_because)
            raise ImportRefused(refused_because)

        accepted = rows.where(F.col(REJECT_REASON).isNull())
        content = conform(accepted, CONTENT_COLUMNS)
        new_creators = creators(accepted)
        audio = accepted.select("content_id", *mapping.audio) if mapping.audio else None
        compared = content
        existing_audio = _read_existing(spark, layout.audio_features_path)
        existing_compared = existing_content
        if audio is not None:
            # An item whose audio descriptors changed is updated too.
            compared = content.join(audio, "content_id", "left")
            if existing_content is not None and existing_audio is not None:
                existing_compared = existing_content.join(
                    existing_audio.select(
                        "content_id", *[c for c in mapping.audio if c in existing_audio.columns]
                    ),
                    "content_id",
                    "left",
                )
        changes = change_counts(existing_compared, compared, "content_id", replacing=mode == "replace")
        if mode == "merge":
            content = upsert(existing_content, content, "content_id")
            new_creators = upsert(_read_existing(spark, layout.creators_path), new_creators, "creator_id")
            audio = upsert(existing_audio, audio, "content_id") if audio is not None else existing_audio

        if dry_run:
            items, creator_count = content.count(), new_creators.count()
            run.record(layout, DRY_RUN, report, changes, reason=refused_because)
            return ImportSummary(
                str(path), run.import_id, mode, DRY_RUN, report, changes, items, creator_count,
                run.seconds, derived_ids=derived, refused_because=refused_because,
            )  # fmt: skip

        staged = layout.staging_dir / f"catalog.{run.import_id}"
        content.write.parquet(str(staged / layout.content_path.name))
        new_creators.write.parquet(str(staged / layout.creators_path.name))
        if audio is not None:
            audio.write.parquet(str(staged / layout.audio_features_path.name))
        items = spark.read.parquet(str(staged / layout.content_path.name)).count()
        creator_count = spark.read.parquet(str(staged / layout.creators_path.name)).count()
        if items == 0:  # check_acceptance guarantees accepted rows; this guards the write itself
            shutil.rmtree(staged, ignore_errors=True)
            raise SignalsError(f"import of {path.name} wrote an empty catalogue; nothing was changed")
        swap_into_place(staged, layout.catalog_dir)
        where = str(write_rejects(rejected, layout, run.import_id)) if report.rejected else ""
        run.record(layout, APPLIED, report, changes, where)
    finally:
        rows.unpersist()
    return ImportSummary(
        str(path), run.import_id, mode, APPLIED, report, changes, items, creator_count, run.seconds,
        where, derived,
    )  # fmt: skip
