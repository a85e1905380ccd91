"""Publish = apply the Feast repo, then materialize one validated partition into the online store
(with :mod:`content_signals.feature_repo.online_write`: Feast's key and value format, written in bulk).

Only partitions under ``signals/`` are ever materialized, and only the gate moves data there, so a
quarantined batch cannot reach the online store; the values of the last good partition keep
serving until a newer good one is published. A date is published table by table: a table without a
validated partition (quarantined, or never computed, as engagement in a deployment without
listening events) is reported and left as it was, and the others are published.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from content_signals.config import PlatformConfig
from content_signals.definitions import SIGNAL_TABLES
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.partitions import partition_timestamp, quarantined_runs
from content_signals.publish_log import PublishRecord, publish_log


def partition_fingerprint(partition_dir: Path) -> str:
    """Names, sizes and modification times of the partition's files: changes when a job reruns."""
    digest = hashlib.sha256()
    for path in sorted(partition_dir.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(partition_dir)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def store_identity(config: PlatformConfig) -> str:
    online = config.feast.online_store
    where = str(config.resolve(online.path)) if online.type == "sqlite" else online.connection_string
    return f"{online.type}:{where}/{config.feast.project}"


@dataclass(frozen=True)
class Unpublished:
    """A signal table with no validated partition for a day, and why."""

    table: str
    day: date
    # The newest quarantined run of the day, when the quality gate refused the partition.
    quarantined: Path | None

    @property
    def reason(self) -> str:
        if self.quarantined is not None:
            return f"failed its quality gate and is quarantined ({self.quarantined})"
        return "not computed"

    def describe(self) -> str:
        return f"{self.table} {self.day.isoformat()}: not published: {self.reason}"


def unpublished(layout: DataLayout, day: date, tables: list[str]) -> list[Unpublished]:
    """The tables of ``tables`` without a validated partition for ``day`` (cheap: no engine needed)."""
    unknown = [name for name in tables if name not in SIGNAL_TABLES]
    if unknown:
        raise SignalsError(f"unknown table {unknown[0]!r}; known tables: {', '.join(SIGNAL_TABLES)}")
    missing = []
    for name in tables:
        if not layout.signal_partition(name, day).exists():
            runs = quarantined_runs(layout, name, day)
            missing.append(Unpublished(name, day, runs[-1] if runs else None))
    return missing


def check_publishable(layout: DataLayout, day: date, tables: list[str]) -> None:
    """Raise unless every table has a validated partition for ``day`` (cheap: no engine needed)."""
    for missing in unpublished(layout, day, tables):
        if missing.quarantined is not None:
            raise SignalsError(
                f"{missing.table} {day.isoformat()} failed its quality gate and is quarantined "
                f"({missing.quarantined}); nothing was published"
            )
        raise SignalsError(
            f"no validated {missing.table} partition for {day.isoformat()}: "
            f"run `signals jobs run {missing.table} --date {day.isoformat()}` first"
        )


def publish(
    config: PlatformConfig,
    day: date,
    tables: list[str] | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[PublishRecord]:
    """Apply the repo, then write each table's validated partition of ``day`` into the online store.

    Without ``tables``: every table with a validated partition of ``day``; the others (not
    computed, as in a deployment without listening events, or quarantined) are reported through
    ``progress`` and keep serving whatever they served before. Raises when no table has one. With
    ``tables``: exactly those, each of which must have one (checked before Feast starts).

    Idempotent: a partition already published unchanged to the same store is skipped. A partition
    older than one already published is written with Feast's rule that a stored value at least as
    new is kept, so republishing an old day never replaces newer values.
    """
    from content_signals.feature_repo.online_write import write_partition
    from content_signals.feature_repo.repo import build_objects, feature_store, online_store_settings

    layout = DataLayout(config.data_dir)
    if tables is None:
        missing = unpublished(layout, day, list(SIGNAL_TABLES))
        names = [name for name in SIGNAL_TABLES if name not in {m.table for m in missing}]
        if not names:
            reasons = "; ".join(f"{m.table} {m.reason}" for m in missing)
            raise SignalsError(
                f"nothing to publish for {day.isoformat()}: no table has a validated partition "
                f"({reasons}); run `signals jobs run all --date {day.isoformat()}` first"
            )
    else:
        check_publishable(layout, day, tables)
        names, missing = list(dict.fromkeys(tables)), []
    started = time.perf_counter()
    store = feature_store(config)
    objects = build_objects(config)
    store.apply(objects.all())
    views = {view.name: view for view in objects.views}
    progress(f"feast apply: {time.perf_counter() - started:.1f}s")

    target = store_identity(config)
    history = [r for r in publish_log(layout) if r.store == target]
    moment = partition_timestamp(day)
    records = []
    for name in names:
        partition = layout.signal_partition(name, day)
        fingerprint = partition_fingerprint(partition)
        if any(
            r.table == name and r.partition == day.isoformat() and r.fingerprint == fingerprint
            for r in history
        ):
            progress(f"{name} {day.isoformat()}: already published unchanged to {target}; nothing to do")
            continue
        newest = max((date.fromisoformat(r.partition) for r in history if r.table == name), default=None)
        result = write_partition(
            online_store_settings(config),
            config.feast.project,
            SIGNAL_TABLES[name],
            partition,
            batch_rows=config.feast.online_write_batch_size,
            skip_if_not_newer=newest is not None and newest >= day,
            progress=_prefixed(progress, f"  {name}: "),
        )
        # Feast's own bookkeeping, so `feast materialize-incremental` and the registry agree.
        store.registry.apply_materialization(
            views[name], config.feast.project, moment - timedelta(seconds=1), moment + timedelta(seconds=1)
        )
        record = PublishRecord(
            table=name,
            partition=day.isoformat(),
            rows=result.rows,
            seconds=round(result.seconds, 3),
            published_at=datetime.now(UTC).isoformat(),
            store=target,
            fingerprint=fingerprint,
            skipped_rows=result.skipped,
        )
        with layout.publish_log_path.open("a") as log:
            log.write(json.dumps(asdict(record)) + "\n")
        records.append(record)
        rate = result.rows_read / result.seconds if result.seconds else 0.0
        progress(
            f"published {name} {day.isoformat()}: {result.rows:,} rows in {result.seconds:.1f}s "
            f"({rate:,.0f} rows/s)" + (f", {result.skipped:,} kept newer values" if result.skipped else "")
        )
    for left_out in missing:
        progress(left_out.describe())
    progress(
        f"{day.isoformat()}: {len(names)} of {len(names) + len(missing)} tables published"
        + (f", {len(missing)} not published" if missing else "")
    )
    return records


def _prefixed(progress: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        progress(prefix + line)

    return say
