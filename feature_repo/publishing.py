"""Publish = apply the Feast repo, then materialize one validated partition into the online store
(with :mod:`content_signals.feature_repo.online_write`: Feast's key and value format, written in bulk).

Only partitions under ``signals/`` are ever materialized, and only the gate moves data there, so a
quarantined batch cannot reach the online store; the values of the last good partition keep
serving until a newer good one is published.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
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


def check_publishable(layout: DataLayout, day: date, tables: list[str]) -> None:
    """Raise unless every table has a validated partition for ``day`` (cheap: no engine needed)."""
    for name in tables:
        if not layout.signal_partition(name, day).exists():
            quarantined = quarantined_runs(layout, name, day)
            if quarantined:
                raise SignalsError(
                    f"{name} {day.isoformat()} failed its quality gate and is quarantined "
                    f"({quarantined[-1]}); nothing was published"
                )
            raise SignalsError(
                f"no validated {name} partition for {day.isoformat()}: "
                f"run `signals jobs run {name} --date {day.isoformat()}` first"
            )


def publish(
    config: PlatformConfig,
    day: date,
    tables: list[str] | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[PublishRecord]:
    """Apply the repo, then write each table's validated partition of ``day`` into the online store.

    Idempotent: a partition already published unchanged to the same store is skipped. A partition
    older than one already published is written with Feast's rule that a stored value at least as
    new is kept, so republishing an old day never replaces newer values.
    """
    from content_signals.feature_repo.online_write import write_partition
    from content_signals.feature_repo.repo import build_objects, feature_store, online_store_settings

    layout = DataLayout(config.data_dir)
    names = tables or list(SIGNAL_TABLES)
    check_publishable(layout, day, names)
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
    return records


def _prefixed(progress: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        progress(prefix + line)

    return say
