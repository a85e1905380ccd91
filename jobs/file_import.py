"""What every import of a real file shares: reading it as the mapping says, accounting for every
row it could not accept, refusing a file that is mostly wrong, and writing the rejects.

An importer (:mod:`content_signals.jobs.catalog_import`, :mod:`content_signals.jobs.events_import`)
turns the source rows into platform rows plus a ``reject_reason`` (null when accepted) and keeps
each source row whole in a ``source`` struct; everything from there on is here.
"""

from __future__ import annotations

import csv
import operator
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.errors import SignalsError
from content_signals.file_mapping import FieldSource, FileMapping, mapping_digest
from content_signals.import_log import ImportRecord, file_fingerprint, record_import
from content_signals.layout import DataLayout
from content_signals.partitions import swap_into_place
from content_signals.value_parsers import blank_to_null, derived_id

REJECT_REASON = "reject_reason"
SOURCE = "source"
SOURCE_ROW = "_source_row"
EXAMPLES_PER_REASON = 3


class ImportRefused(SignalsError):
    """The file was read but too little of it could be accepted; nothing was changed."""


def new_import_id(kind: str) -> str:
    return f"{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ImportRun:
    """One import of one file, from its start: what its record in the import log says about it."""

    kind: str  # catalog or events
    path: Path
    mapping: FileMapping
    mode: str
    import_id: str = field(default="")
    started: float = field(default_factory=time.perf_counter)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if not self.import_id:
            object.__setattr__(self, "import_id", new_import_id(self.kind))

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def record(
        self,
        layout: DataLayout,
        outcome: str,
        report: RejectReport,
        changes: dict[str, int],
        rejects: str = "",
        reason: str = "",
    ) -> None:
        """Append this import, as it ended, to the import log."""
        record_import(
            layout,
            ImportRecord(
                import_id=self.import_id,
                kind=self.kind,
                source=str(self.path.resolve()),
                fingerprint=file_fingerprint(self.path),
                mapping=self.mapping.name,
                mapping_digest=mapping_digest(self.mapping),
                mode=self.mode,
                outcome=outcome,
                rows=report.rows,
                accepted=report.accepted,
                rejected=report.counts,
                changes=changes,
                started_at=self.started_at.isoformat(),
                seconds=round(self.seconds, 3),
                rejects_path=rejects,
                reason=reason,
            ),
        )


def check_header(path: Path, mapping: FileMapping, what: str) -> None:
    """Raise unless ``path`` exists and (for delimited text) its header has every column the mapping
    reads. Python alone, so a file in another layout is refused before an engine starts."""
    if not path.is_file():
        raise SignalsError(f"{what} file {path} does not exist")
    if mapping.format != "csv":
        return
    with path.open(
        encoding=mapping.encoding.lower().replace("utf-8", "utf-8-sig"), errors="replace"
    ) as handle:
        first = handle.readline().rstrip("\r\n")
    quoting = {"quotechar": mapping.quote} if mapping.quote else {"quoting": csv.QUOTE_NONE}
    header = next(csv.reader([first], delimiter=mapping.delimiter, **quoting), [])  # type: ignore[call-overload]
    _check_columns(path, mapping, [h.strip() for h in header])


def _check_columns(path: Path, mapping: FileMapping, columns: list[str]) -> None:
    missing = [c for c in mapping.source_columns() if c not in columns]
    if missing:
        raise SignalsError(
            f"{path.name} does not match mapping {mapping.name!r}: missing columns {', '.join(missing)} "
            f"(the file has: {', '.join(columns[:12])}{', …' if len(columns) > 12 else ''})"
        )


def read_source(spark: SparkSession, path: Path, mapping: FileMapping, what: str) -> DataFrame:
    """Every row of ``path`` with every column as a string, plus ``_source_row`` (the read order).

    Raises when the file is missing or lacks a column the mapping reads: a file in another layout
    is refused whole, before any row is judged.
    """
    check_header(path, mapping, what)
    if mapping.format == "json":
        starts_with_array = path.read_bytes()[:4096].lstrip()[:1] == b"["
        frame = (
            spark.read.option("multiLine", starts_with_array)
            .option("encoding", mapping.encoding)
            .json(str(path))
        )
        frame = frame.select([F.col(f"`{c}`").cast("string").alias(c) for c in frame.columns])
    else:
        reader = (
            spark.read.option("header", True)
            .option("sep", mapping.delimiter)
            .option("mode", "PERMISSIVE")
            .option("encoding", mapping.encoding)
            .option("quote", mapping.quote if mapping.quote is not None else "\u0000")
        )
        if mapping.quote is not None:
            reader = reader.option("escape", mapping.quote).option("multiLine", True)
        frame = reader.csv(str(path))
    _check_columns(path, mapping, frame.columns)
    return frame.withColumn(SOURCE_ROW, F.monotonically_increasing_id())


def id_column(source: FieldSource, derived_prefix: str) -> Column:
    """The id of each row: the column's cell (trimmed, without ``strip_prefix``; null when blank),
    or derived from the named columns (:func:`~content_signals.value_parsers.derived_id`; null
    when they are all blank). One rule for every importer, so that a catalogue and a listening log
    derived from the same columns agree on ids."""
    if source.derive is not None:
        cells = [F.col(f"`{c}`") for c in source.derive]
        any_filled = reduce(operator.or_, [blank_to_null(c).isNotNull() for c in cells])
        return F.when(any_filled, derived_id(cells, derived_prefix))
    cell = blank_to_null(F.col(f"`{source.column}`"))
    prefix = source.strip_prefix
    if prefix is None:
        return cell
    rest = cell.substr(F.lit(len(prefix) + 1), F.length(cell))
    return blank_to_null(F.when(cell.startswith(prefix), rest).otherwise(cell))


def source_struct(source: DataFrame) -> Column:
    """The source row whole (a struct, since its column names may clash with ours), so that a
    rejected row is written back exactly as it was read."""
    return F.struct(*[F.col(f"`{c}`") for c in source.columns if c != SOURCE_ROW]).alias(SOURCE)


@dataclass(frozen=True)
class RejectReport:
    """How many rows were read and accepted, the rejects per reason and a few examples of each."""

    rows: int
    accepted: int
    counts: dict[str, int]
    examples: dict[str, list[dict[str, str | None]]]

    @property
    def rejected(self) -> int:
        return self.rows - self.accepted

    @property
    def accepted_share(self) -> float:
        return self.accepted / self.rows if self.rows else 0.0

    def top_reason(self) -> str | None:
        return max(self.counts, key=lambda reason: self.counts[reason]) if self.counts else None

    def describe(self, hints: dict[str, str]) -> list[str]:
        """Counts per reason, most frequent first, each with how to fix it and its examples."""
        lines = [
            f"{self.rows:,} rows read: {self.accepted:,} accepted ({self.accepted_share:.1%}), "
            f"{self.rejected:,} rejected"
        ]
        for reason, count in sorted(self.counts.items(), key=lambda item: -item[1]):
            rows = "row" if count == 1 else "rows"
            lines.append(f"  {reason}: {count:,} {rows}. {hints.get(reason, '')}".rstrip())
            for example in self.examples.get(reason, []):
                cells = ", ".join(f"{k}={v!r}" for k, v in list(example.items())[:8])
                lines.append(f"      e.g. {cells}")
        return lines


def reject_report(rows: DataFrame, example_columns: list[str]) -> RejectReport:
    """Count ``rows`` (judged: with ``reject_reason`` and ``source``) per reason, and take the
    first few rejected rows of each reason, in file order, showing ``example_columns``."""
    counts = {
        r[REJECT_REASON]: int(r["count"])
        for r in rows.where(F.col(REJECT_REASON).isNotNull()).groupBy(REJECT_REASON).count().collect()
    }
    total = rows.count()
    examples: dict[str, list[dict[str, str | None]]] = {}
    if counts:
        ranked = rows.where(F.col(REJECT_REASON).isNotNull()).select(
            REJECT_REASON,
            SOURCE_ROW,
            *[F.col(f"{SOURCE}.`{c}`").alias(c) for c in example_columns],
        )
        first = ranked.orderBy(SOURCE_ROW).limit(EXAMPLES_PER_REASON * 50).collect()
        for row in first:
            reason = row[REJECT_REASON]
            if len(examples.setdefault(reason, [])) < EXAMPLES_PER_REASON:
                examples[reason].append({c: row[c] for c in example_columns})
    return RejectReport(rows=total, accepted=total - sum(counts.values()), counts=counts, examples=examples)


def refusal_reason(report: RejectReport, min_share: float, hints: dict[str, str], path: Path) -> str:
    """The one line :func:`check_acceptance` would raise, or empty when the import would be applied
    (what a dry run reports)."""
    try:
        check_acceptance(report, min_share, hints, path)
    except ImportRefused as refusal:
        return str(refusal)
    return ""


def check_acceptance(report: RejectReport, min_share: float, hints: dict[str, str], path: Path) -> None:
    """Raise :class:`ImportRefused` (one line: the share, the top reason and how to fix it) unless
    at least one row and at least ``min_share`` of the rows were accepted."""
    if report.accepted >= 1 and report.accepted_share >= min_share:
        return
    top = report.top_reason()
    why = (
        f"top reject reason {top} ({report.counts[top]:,} rows): {hints.get(top, 'see --dry-run')}"
        if top
        else "the file has no data rows"
    )
    raise ImportRefused(
        f"import of {path.name} refused: {report.accepted:,} of {report.rows:,} rows accepted "
        f"({report.accepted_share:.1%}, minimum {min_share:.0%}); {why}. Nothing was changed; "
        "`--dry-run` shows examples of each reason"
    )


def write_rejects(rejected: DataFrame, layout: DataLayout, import_id: str) -> Path:
    """The rejected source rows, with their reason, as one CSV under the import's folder
    (written to staging first, so the folder is complete or absent)."""
    staged = layout.staging_dir / f"rejects.{import_id}"
    in_file_order = rejected.orderBy(SOURCE_ROW).select(f"{SOURCE}.*", REJECT_REASON)
    in_file_order.coalesce(1).write.option("header", True).csv(str(staged))
    target = layout.import_rejects_dir(import_id)
    swap_into_place(staged, target)
    return target
