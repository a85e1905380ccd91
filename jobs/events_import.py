"""Import a real listening log (a streaming export, a player's log) into the platform's events.

:func:`normalise` is the pure transform: every source row comes out once, either accepted
(``reject_reason`` null) as a row of the platform's event schema, or with the first reason it
cannot be imported. :func:`import_events` judges the whole file before it changes anything, then
writes the accepted events into their UTC day partitions (``raw/events/date=D/``), one atomic swap
per day, in the exact schema of the generated events, so every job reads them unchanged.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal, cast

import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from content_signals.errors import SignalsError
from content_signals.events_mapping import DERIVED_ITEM_PREFIX, EventsMapping
from content_signals.file_mapping import FieldSource
from content_signals.import_log import (
    APPLIED,
    DRY_RUN,
    REFUSED,
)
from content_signals.jobs.file_import import (
    REJECT_REASON,
    SOURCE,
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
from content_signals.layout import DataLayout, partition_name
from content_signals.partitions import swap_into_place
from content_signals.raw_tables import EVENT_COLUMNS as RAW_EVENT_COLUMNS
from content_signals.raw_tables import EVENT_KEY, arrow_schema, spark_schema
from content_signals.value_parsers import (
    DurationUnit,
    TimestampUnit,
    blank_to_null,
    parse_boolean,
    parse_duration_ms,
    parse_timestamp,
)

ImportMode = Literal["merge", "replace"]
IMPORT_MODES: tuple[ImportMode, ...] = ("merge", "replace")

# The columns of a listening-events partition, in order: exactly the generated events' schema, so
# jobs cannot tell imported events from generated ones.
EVENT_SCHEMA = spark_schema(RAW_EVENT_COLUMNS)
EVENT_COLUMNS = tuple(RAW_EVENT_COLUMNS)
DAY = "date"

# Listening logs do not predate 2000: a timestamp before it is almost always the wrong unit (epoch
# seconds read as milliseconds land in January 1970). One more than a day after the import is a
# device clock or a unit error too.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)

# In the order they are checked: a row is reported under the first that applies.
REJECT_REASONS = (
    "missing_user",
    "missing_item",
    "bad_timestamp",
    "bad_ms_played",
    "bad_saved",
    "unknown_item",
    "duplicate_event",
)
HINTS = {
    "missing_user": (
        "the user cell is empty: check columns.user_id, or set default_user_id for a one-person export"
    ),
    "missing_item": (
        "the item cell is empty (in a streaming export, podcast and audiobook plays have no track id): "
        "check columns.content_id"
    ),
    "bad_timestamp": (
        f"the timestamp is unreadable, before {EARLIEST_EVENT.year} or in the future: "
        "check columns.timestamp and its unit (iso, or s / ms since the Unix epoch)"
    ),
    "bad_ms_played": (
        "ms played is negative or not a number: check columns.ms_played and its unit (ms, s or min)"
    ),
    "bad_saved": "the saved flag is not a known spelling: set true_values / false_values on columns.saved",
    "unknown_item": (
        "the item is not in the catalogue: import the catalogue first, write ids as the catalogue does "
        "(strip_prefix, or derive from the same columns in the same order), or pass --keep-unknown-items"
    ),
    "duplicate_event": (
        "the same user, item, timestamp and ms played appear earlier in the file: the event is imported once"
    ),
}


def _cell(column: str) -> Column:
    return blank_to_null(F.col(f"`{column}`"))


def _user(mapping: EventsMapping) -> Column:
    source = mapping.columns.user_id
    user = id_column(source, "") if source is not None else F.lit(None).cast("string")
    return F.coalesce(user, F.lit(mapping.default_user_id)) if mapping.default_user_id is not None else user


def _ms_played(source: FieldSource) -> Column:
    """Milliseconds played, zero included (a play skipped at once); null when negative or unreadable."""
    return parse_duration_ms(
        _cell(str(source.column)), cast(DurationUnit, source.unit or "ms"), allow_zero=True
    )


def _micros(moment: datetime) -> Column:
    return F.timestamp_micros(F.lit(int(moment.timestamp() * 1_000_000)))


def normalise(
    source: DataFrame,
    mapping: EventsMapping,
    known_items: DataFrame | None = None,
    received_at: datetime | None = None,
) -> DataFrame:
    """Source rows (all strings) -> event rows plus ``reject_reason``, ``source`` and ``_source_row``.

    ``known_items`` (a frame with ``content_id``): events of other items are ``unknown_item``;
    without it every item is accepted. ``received_at``: events more than a day after it are
    ``bad_timestamp`` (without it, only events before 2000 are).
    """
    cols = mapping.columns
    unit = cast(TimestampUnit, cols.timestamp.unit or "iso")
    timestamp = parse_timestamp(F.col(f"`{cols.timestamp.column}`"), unit)
    too_late = F.lit(False) if received_at is None else timestamp > _micros(received_at + FUTURE_TOLERANCE)
    if cols.saved is not None:
        saved_text = _cell(str(cols.saved.column))
        saved = parse_boolean(saved_text, cols.saved.true_spellings(), cols.saved.false_spellings())
    else:
        saved_text = saved = F.lit(None).cast("string")
    frame = source.select(
        source_struct(source),
        F.col(SOURCE_ROW),
        _user(mapping).alias("_user"),
        id_column(cols.content_id, DERIVED_ITEM_PREFIX).alias("_item"),
        timestamp.alias("_ts"),
        (timestamp.isNull() | (timestamp < _micros(EARLIEST_EVENT)) | too_late).alias("_bad_ts"),
        _ms_played(cols.ms_played).alias("_played"),
        saved_text.alias("_saved_text"),
        saved.cast("boolean").alias("_saved"),
    )
    if known_items is not None:
        known = (
            known_items.select(F.col("content_id").alias("_known_id"))
            .dropDuplicates()
            .withColumn("_known", F.lit(True))
        )
        frame = frame.join(known, frame["_item"] == known["_known_id"], "left").drop("_known_id")
    else:
        frame = frame.withColumn("_known", F.lit(True))
    earlier = (
        F.when(F.col("_user").isNull(), "missing_user")
        .when(F.col("_item").isNull(), "missing_item")
        .when(F.col("_bad_ts"), "bad_timestamp")
        .when(F.col("_played").isNull(), "bad_ms_played")
        .when(F.col("_saved_text").isNotNull() & F.col("_saved").isNull(), "bad_saved")
        .when(F.col("_known").isNull(), "unknown_item")
    )
    # Among the rows nothing else rejects, the first of each (user, item, timestamp, ms played).
    repeats = Window.partitionBy(earlier.isNull(), "_user", "_item", "_ts", "_played").orderBy(SOURCE_ROW)
    reason = F.coalesce(earlier, F.when(F.row_number().over(repeats) > 1, F.lit("duplicate_event")))
    return frame.select(
        SOURCE,
        SOURCE_ROW,
        reason.alias(REJECT_REASON),
        F.col("_user").alias("user_id"),
        F.col("_item").alias("content_id"),
        F.col("_ts").alias("event_timestamp"),
        F.col("_played").alias("ms_played"),
        F.col("_saved").alias("saved"),
    )


def utc_day(timestamp: Column) -> Column:
    """The UTC date of a timestamp, whatever the session's time zone."""
    return F.date_from_unix_date(F.floor(F.unix_micros(timestamp) / F.lit(86_400_000_000)).cast("int"))


@dataclass(frozen=True)
class EventsImportSummary:
    import_id: str
    source: str
    mapping: str
    mode: ImportMode
    dry_run: bool
    report: RejectReport
    # Per UTC day written: the events added to it, and all its events after the import.
    added: dict[date, int] = field(default_factory=dict)
    totals: dict[date, int] = field(default_factory=dict)
    # Merge: accepted events their day already had. Replace: the events the file's days had before.
    already_present: int = 0
    removed: int = 0
    # Days inside the file's span without events that got an empty partition (no gap in the history).
    empty_days: list[date] = field(default_factory=list)
    # Accepted events of items the catalogue does not know (kept on request).
    unknown_kept: int = 0
    rejects_path: str = ""
    seconds: float = 0.0
    # A dry run of a file a real import would refuse: why (empty otherwise).
    would_refuse: str = ""

    @property
    def days(self) -> list[date]:
        return sorted(self.totals)

    def describe(self) -> str:
        """What was done (or, for a dry run, the counts per reason with examples, and what a real
        import would do)."""
        if self.dry_run:
            verdict = (
                f"a real import would be refused: {self.would_refuse}"
                if self.would_refuse
                else f"a real import ({self.mode}) would write the {self.report.accepted:,} accepted events"
            )
            return "\n".join(
                [
                    *self.report.describe(HINTS),
                    f"dry run with mapping {self.mapping}: nothing written; {verdict}",
                ]
            )
        days = self.days
        span = f" ({days[0].isoformat()} .. {days[-1].isoformat()})" if days else ""
        added = sum(self.added.values())
        effect = (
            f"{added:,} events added to {len(days):,} days{span}, {self.already_present:,} already present"
            if self.mode == "merge"
            else f"{added:,} events written to {len(days):,} days{span}, replacing {self.removed:,}"
        )
        rejected = ", ".join(f"{k}: {v:,}" for k, v in sorted(self.report.counts.items())) or "none"
        lines = [
            f"imported {self.report.accepted:,} of {self.report.rows:,} rows of {self.source} "
            f"(mapping {self.mapping}, {self.mode}): {effect}; "
            f"rejected {self.report.rejected:,} ({rejected}); {self.seconds:.1f}s"
        ]
        if self.empty_days:
            lines.append(
                f"{len(self.empty_days):,} days inside the file's span had no events: written as empty days"
            )
        if self.unknown_kept:
            lines.append(f"kept {self.unknown_kept:,} events of items the catalogue does not know")
        if self.rejects_path:
            lines.append(f"rejected rows, with their reason: {self.rejects_path}")
        return "\n".join(lines)


def _existing_events(spark: SparkSession, layout: DataLayout, days: list[date]) -> DataFrame | None:
    """The current events of those ``days`` that have a partition, with their partition's date."""
    paths = [str(layout.events_partition(d)) for d in days if layout.events_partition(d).exists()]
    if not paths:
        return None
    schema = T.StructType([*EVENT_SCHEMA.fields, T.StructField(DAY, T.DateType())])
    return spark.read.schema(schema).option("basePath", str(layout.events_dir)).parquet(*paths)


def _counts_by_day(frame: DataFrame) -> dict[date, int]:
    return {row[DAY]: int(row["count"]) for row in frame.groupBy(DAY).count().collect()}


def import_events(
    spark: SparkSession,
    layout: DataLayout,
    path: Path,
    mapping: EventsMapping,
    min_share: float,
    mode: ImportMode = "merge",
    keep_unknown_items: bool = False,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda _line: None,
) -> EventsImportSummary:
    """Judge every row of ``path``, then (unless refused or a dry run) write the accepted events
    into their UTC day partitions and the rejected rows under the import's folder.

    ``merge`` adds to each day the events it does not have yet (same user, item, timestamp and ms
    played = the same event); ``replace`` makes each day of the file hold exactly the file's events
    of that day. Days the file has no events for are never touched. Each day is written in full to
    staging and swapped into place atomically. Every import is recorded in the import log; one with
    fewer than ``min_share`` of its rows accepted raises :class:`ImportRefused` and changes nothing.
    """
    if mode not in IMPORT_MODES:
        raise SignalsError(f"unknown import mode {mode!r} (merge or replace)")
    run = ImportRun("events", path, mapping, mode)
    has_catalogue = layout.content_path.exists()
    if not keep_unknown_items and not has_catalogue:
        raise SignalsError(
            f"no catalogue at {layout.content_path}: events are checked against the catalogue's items; "
            "import or generate a catalogue first, or pass --keep-unknown-items"
        )
    source = read_source(spark, path, mapping, "events")
    catalogue = spark.read.parquet(str(layout.content_path)).select("content_id") if has_catalogue else None
    rows = normalise(source, mapping, None if keep_unknown_items else catalogue, received_at=run.started_at)
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)

    try:
        report = reject_report(rows, mapping.source_columns())
        progress(
            f"read {report.rows:,} rows from {path.name} with mapping {mapping.name}: "
            f"{report.accepted:,} accepted, {report.rejected:,} rejected"
        )
        accepted = rows.where(F.col(REJECT_REASON).isNull()).select(*EVENT_COLUMNS)
        unknown_kept = 0
        if keep_unknown_items and catalogue is not None and report.accepted:
            unknown_kept = accepted.join(catalogue, "content_id", "left_anti").count()
        if dry_run:
            would_refuse = refusal_reason(report, min_share, HINTS, path)
            run.record(layout, DRY_RUN, report, {}, reason=would_refuse)
            return EventsImportSummary(
                run.import_id,
                str(path),
                mapping.name,
                mode,
                True,
                report,
                unknown_kept=unknown_kept,
                seconds=run.seconds,
                would_refuse=would_refuse,
            )
        refused_because = refusal_reason(report, min_share, HINTS, path)
        if refused_because:
            run.record(layout, REFUSED, report, {}, reason=refused_because)
            raise ImportRefused(refused_because)
        with_day = accepted.withColumn(DAY, utc_day(F.col("event_timestamp")))
        written = _write_days(spark, layout, with_day, mode, run.import_id)
        rejects = rows.where(F.col(REJECT_REASON).isNotNull())
        rejects_path = str(write_rejects(rejects, layout, run.import_id)) if report.rejected else ""
        changes = {
            "days_touched": len(written.totals),
            "events_added": sum(written.added.values()),
            "events_already_present": written.already_present,
            "events_removed": written.removed,
            "empty_days_added": len(written.empty_days),
        } | {partition_name(d): n for d, n in sorted(written.added.items())}
        run.record(layout, APPLIED, report, changes, rejects=rejects_path)
    finally:
        rows.unpersist()
    progress(f"wrote {len(written.totals):,} day partitions under {layout.events_dir}")
    return EventsImportSummary(
        run.import_id,
        str(path),
        mapping.name,
        mode,
        False,
        report,
        added=written.added,
        totals=written.totals,
        already_present=written.already_present,
        removed=written.removed,
        empty_days=written.empty_days,
        unknown_kept=unknown_kept,
        rejects_path=rejects_path,
        seconds=run.seconds,
    )


@dataclass(frozen=True)
class _Written:
    added: dict[date, int]
    totals: dict[date, int]
    already_present: int
    removed: int
    empty_days: list[date]


def _write_days(
    spark: SparkSession, layout: DataLayout, accepted: DataFrame, mode: ImportMode, import_id: str
) -> _Written:
    """Write each affected day in full to staging, then swap the days into place one by one.

    Merge rewrites only the days that gain events; replace rewrites every day the file has events
    for. A day inside the file's span without any event and without a partition gets an empty
    partition: the file covers it, nobody listened, and the jobs' event windows need no gap.
    """
    file_days = sorted(row[DAY] for row in accepted.select(DAY).distinct().collect())
    existing = _existing_events(spark, layout, file_days)
    accepted_count = accepted.count()
    if mode == "merge" and existing is not None:
        new = accepted.join(existing.select(*EVENT_KEY), list(EVENT_KEY), "left_anti")
    else:
        new = accepted
    new = new.persist(StorageLevel.MEMORY_AND_DISK)
    staged = layout.staging_dir / f"events.{import_id}"
    totals: dict[date, int] = {}
    try:
        added = _counts_by_day(new)
        days = file_days if mode == "replace" else sorted(added)
        removed = sum(_counts_by_day(existing).values()) if existing is not None and mode == "replace" else 0
        frame = new.select(*EVENT_COLUMNS, DAY)
        if existing is not None and mode == "merge" and days:
            frame = existing.where(F.col(DAY).isin(*days)).select(*EVENT_COLUMNS, DAY).unionByName(frame)
        if days:
            (
                frame.repartition(DAY)
                .sortWithinPartitions(DAY, "event_timestamp", "user_id")
                .write.partitionBy(DAY)
                .parquet(str(staged))
            )
            totals = _counts_by_day(spark.read.parquet(str(staged)))
        empty_days = _missing_days(layout, file_days)
        for day in empty_days:
            (staged / partition_name(day)).mkdir(parents=True)
            pq.write_table(
                arrow_schema(RAW_EVENT_COLUMNS).empty_table(),
                staged / partition_name(day) / "part-00000.parquet",
            )
        for day in sorted([*days, *empty_days]):
            swap_into_place(staged / partition_name(day), layout.events_partition(day))
    finally:
        new.unpersist()
        shutil.rmtree(staged, ignore_errors=True)
    return _Written(added, totals, accepted_count - sum(added.values()), removed, empty_days)


def _missing_days(layout: DataLayout, file_days: list[date]) -> list[date]:
    """The days between the file's first and last day that have neither events in the file nor a
    partition."""
    if not file_days:
        return []
    have = set(file_days)
    span = (file_days[-1] - file_days[0]).days + 1
    every = (file_days[0] + timedelta(days=offset) for offset in range(span))
    return [d for d in every if d not in have and not layout.events_partition(d).exists()]
