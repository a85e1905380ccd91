"""Publish = apply the Feast repo, then materialize one validated partition into the online store.

Only partitions under ``signals/`` are ever materialized, and only the gate moves data there, so a
quarantined batch cannot reach the online store; the values of the last good partition keep
serving until a newer good one is published.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import SparkSession

from content_signals.config import PlatformConfig
from content_signals.definitions import SIGNAL_TABLES
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from jobs.partitions import quarantined_runs
from jobs.schema import partition_timestamp


@dataclass(frozen=True)
class PublishRecord:
    table: str
    partition: str
    rows: int
    seconds: float
    published_at: str


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
    spark: SparkSession,
    day: date,
    tables: list[str] | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[PublishRecord]:
    from feature_repo.repo import build_objects, feature_store

    layout = DataLayout(config.data_dir)
    names = tables or list(SIGNAL_TABLES)
    check_publishable(layout, day, names)
    started = time.perf_counter()
    store = feature_store(config)
    store.apply(build_objects(config).all())
    progress(f"feast apply: {time.perf_counter() - started:.1f}s")

    moment = partition_timestamp(day)
    records = []
    for name in names:
        begun = time.perf_counter()
        rows = spark.read.parquet(str(layout.signal_partition(name, day))).count()
        # Every row of a daily partition carries the same event timestamp: a one-second window
        # around it selects exactly that partition.
        store.materialize(
            start_date=moment - timedelta(seconds=1),
            end_date=moment + timedelta(seconds=1),
            feature_views=[name],
        )
        record = PublishRecord(
            table=name,
            partition=day.isoformat(),
            rows=rows,
            seconds=round(time.perf_counter() - begun, 3),
            published_at=datetime.now(UTC).isoformat(),
        )
        with layout.publish_log_path.open("a") as log:
            log.write(json.dumps(asdict(record)) + "\n")
        records.append(record)
        progress(f"materialized {name} {day.isoformat()}: {rows:,} rows in {record.seconds:.1f}s")
    return records
