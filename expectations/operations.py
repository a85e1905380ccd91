"""Operations of the data-quality gate that platform teams run by hand or from a scheduler.

Re-validate a partition, list / show / release quarantined runs, check freshness, render the
dashboard. Plain functions over the typed config: the CLI only parses arguments and prints.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from content_signals.config import PlatformConfig
from content_signals.definitions import SIGNAL_TABLES, SignalTable
from content_signals.errors import GateFailed, SignalsError
from content_signals.expectations.dashboard import FreshnessRow, QuarantineItem, render_dashboard
from content_signals.expectations.gate import GateResult
from content_signals.expectations.history import Release, ValidationHistory
from content_signals.expectations.profile import baseline_profile, profile
from content_signals.layout import DataLayout, partition_name
from content_signals.partitions import mark_run, partition_timestamp, swap_into_place
from content_signals.publish_log import publish_log

RELEASE_FILE = "release.json"
VALIDATION_FILE = "validation.json"


def _table(name: str) -> SignalTable:
    if name not in SIGNAL_TABLES:
        raise SignalsError(f"unknown table {name!r}; known tables: {', '.join(SIGNAL_TABLES)}")
    return SIGNAL_TABLES[name]


def _new_run_id() -> str:
    import uuid

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


# --- quarantine ------------------------------------------------------------------------------


def _failed_names(record: dict[str, Any]) -> tuple[str, ...]:
    names = []
    for failure in record.get("failures", []):
        column = failure.get("column")
        names.append(f"{failure['expectation']}({column})" if column else failure["expectation"])
    return tuple(names)


def quarantine_items(layout: DataLayout, table: str | None = None) -> list[QuarantineItem]:
    """Every quarantined run whose data has not been released, oldest partition first."""
    root = layout.root / "quarantine"
    items = []
    for table_dir in sorted(root.iterdir()) if root.exists() else []:
        if table is not None and table_dir.name != table:
            continue
        for day_dir in sorted(table_dir.glob("date=*")):
            for run_dir in sorted(p for p in day_dir.iterdir() if p.is_dir()):
                if (run_dir / RELEASE_FILE).exists() or not (run_dir / "data").exists():
                    continue
                record = json.loads((run_dir / VALIDATION_FILE).read_text())
                items.append(
                    QuarantineItem(
                        table=table_dir.name,
                        partition=date.fromisoformat(day_dir.name.removeprefix("date=")),
                        run_id=run_dir.name,
                        failed=_failed_names(record),
                        path=run_dir,
                    )
                )
    return items


def quarantined_run(layout: DataLayout, table: str, day: date, run_id: str | None = None) -> QuarantineItem:
    """One unreleased quarantined run: the one named, else the newest for that partition."""
    candidates = [i for i in quarantine_items(layout, table) if i.partition == day]
    if run_id is not None:
        candidates = [i for i in candidates if i.run_id == run_id]
    if not candidates:
        named = f" run {run_id}" if run_id else ""
        raise SignalsError(f"nothing quarantined for {table} {day.isoformat()}{named}")
    return candidates[-1]


def show_quarantined(layout: DataLayout, table: str, day: date, run_id: str | None = None) -> dict[str, Any]:
    item = quarantined_run(layout, _table(table).name, day, run_id)
    record: dict[str, Any] = json.loads((item.path / VALIDATION_FILE).read_text())
    record.pop("great_expectations", None)  # the full GE result lives in the file and Data Docs
    record["path"] = str(item.path)
    return record


def check_release_reason(override: bool, reason: str | None) -> None:
    if override and not (reason and reason.strip()):
        raise SignalsError("--override needs --reason: say why unvalidated data may be published")


@dataclass(frozen=True)
class ReleaseResult:
    release: Release
    published: Path
    revalidation: GateResult | None


def release(
    config: PlatformConfig,
    spark: SparkSession,
    table_name: str,
    day: date,
    run_id: str | None = None,
    override: bool = False,
    reason: str | None = None,
    released_by: str | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> ReleaseResult:
    """Publish a quarantined run to the offline store: after a passing re-validation, or, with
    ``override``, without one (a reason is then required and recorded with who and when).

    The data moves into place with the same atomic swap as a job's publish; the quarantine folder
    keeps its validation report plus ``release.json``. Publishing to the online store stays a
    separate, explicit ``signals publish``.
    """
    from content_signals.expectations.gate import quality_gate
    from content_signals.expectations.history import open_history

    table = _table(table_name)
    check_release_reason(override, reason)
    layout = DataLayout(config.data_dir)
    item = quarantined_run(layout, table.name, day, run_id)
    history = open_history(config)
    try:
        result = None
        if not override:
            frame = spark.read.parquet(str(item.path / "data"))
            baseline = baseline_profile(spark, layout, table, day)
            result = quality_gate(config).validate(frame, table, baseline, f"{table.name}-{day}-release")
            history.record(result.to_run(_new_run_id(), day, profile(frame, table, day), trigger="release"))
            progress(result.summary())
            if not result.success:
                raise GateFailed(f"re-validation failed, {item.run_id} stays quarantined: {result.summary()}")
        staged = layout.staging_dir / table.name / f"{partition_name(day)}.{item.run_id}.release"
        staged.parent.mkdir(parents=True, exist_ok=True)
        (item.path / "data").rename(staged)
        mark_run(staged, item.run_id)
        target = layout.signal_partition(table.name, day)
        swap_into_place(staged, target)
        record = Release(
            table=table.name,
            partition=day,
            run_id=item.run_id,
            released_at=datetime.now(UTC),
            released_by=released_by or getpass.getuser(),
            override=override,
            reason=reason,
        )
        (item.path / RELEASE_FILE).write_text(
            json.dumps({**record.__dict__, "partition": day.isoformat()}, default=str, indent=2)
        )
        history.record_release(record)
    finally:
        history.close()
    return ReleaseResult(record, target, result)


# --- re-validation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Revalidation:
    path: Path
    result: GateResult


def validate(config: PlatformConfig, spark: SparkSession, table_name: str, day: date) -> Revalidation:
    """Validate the published partition of ``day`` again (or, if none, its newest quarantined run)
    with today's suite and baseline, and record it. Nothing moves: release does that."""
    from content_signals.expectations.gate import quality_gate
    from content_signals.expectations.history import open_history

    table = _table(table_name)
    layout = DataLayout(config.data_dir)
    path = layout.signal_partition(table.name, day)
    if not path.exists():
        quarantined = [i for i in quarantine_items(layout, table.name) if i.partition == day]
        if not quarantined:
            raise SignalsError(
                f"no partition of {table.name} for {day.isoformat()}, published or quarantined"
            )
        path = quarantined[-1].path / "data"
    frame = spark.read.parquet(str(path))
    baseline = baseline_profile(spark, layout, table, day)
    run_id = _new_run_id()
    result = quality_gate(config).validate(frame, table, baseline, f"{table.name}-{day}-{run_id}")
    history = open_history(config)
    try:
        history.record(result.to_run(run_id, day, profile(frame, table, day), trigger="validate"))
    finally:
        history.close()
    return Revalidation(path, result)


# --- freshness and the dashboard -------------------------------------------------------------


def freshness(
    config: PlatformConfig, now: datetime | None = None, not_produced: Mapping[str, str] | None = None
) -> list[FreshnessRow]:
    """Per feature view: the newest partition materialized online, its age, and whether it is
    older than the view's maximum age (never published counts as stale), except the views this
    deployment does not produce at all (``not_produced``: view -> why), which are never stale."""
    not_produced = not_produced or {}
    now = now or datetime.now(UTC)
    layout = DataLayout(config.data_dir)
    latest: dict[str, date] = {}
    for record in publish_log(layout):
        day = date.fromisoformat(record.partition)
        latest[record.table] = max(day, latest.get(record.table, day))
    rows = []
    for view in SIGNAL_TABLES:
        newest = latest.get(view)
        age = (now - partition_timestamp(newest)).total_seconds() / 3600 if newest else None
        why_not = not_produced.get(view, "")
        stale = not why_not and (age is None or age > config.quality.max_age_for(view))
        rows.append(FreshnessRow(view, newest, age, stale, why_not))
    return rows


def report(
    config: PlatformConfig,
    out_dir: Path | None = None,
    now: datetime | None = None,
    not_produced: Mapping[str, str] | None = None,
) -> Path:
    """Render the static HTML dashboard; returns the path of its index.html."""
    from content_signals.expectations.history import open_history

    now = now or datetime.now(UTC)
    layout = DataLayout(config.data_dir)
    history: ValidationHistory = open_history(config)
    try:
        page = render_dashboard(
            history,
            quarantine_items(layout),
            freshness(config, now, not_produced),
            out_dir or config.resolve("quality/report"),
            now,
        )
    finally:
        history.close()
    return page
