"""Daily partitions: reruns replace and reproduce; backfills report progress; a killed job leaves
the published state exactly as it was."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from content_signals.errors import SignalsError
from content_signals.jobs import content_engagement
from content_signals.jobs.runner import JOBS, check_all_inputs, persisted_partition, run_job, run_many
from content_signals.layout import DataLayout
from content_signals.synthetic import GenerationSpec, write_catalogue

START = date(2026, 2, 1)
SIGNALS = str(Path(sys.executable).parent / "signals")


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_layout(tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    layout = DataLayout(tmp_path_factory.mktemp("semantics"))
    spec = GenerationSpec(items=200, creators=20, days=3, events_per_day=1_000, start_date=START)
    write_catalogue(spec, layout)
    return layout


def test_every_job_runs_after_the_tables_it_reads_and_only_model_jobs_get_a_model() -> None:
    order = list(JOBS)
    for name, job in JOBS.items():
        assert all(order.index(upstream) < order.index(name) for upstream in job.upstream), name
    assert JOBS["content_safety"].upstream == ("content_embedding",)
    assert JOBS["content_duplicates"].upstream == ("content_embedding",)
    # The duplicates job's model is the day's vector index (its neighbour pairs).
    assert {name for name, job in JOBS.items() if job.model is not None} == {
        "content_embedding",
        "content_safety",
        "content_duplicates",
    }


def test_inputs_are_checked_before_spark_with_what_is_missing(small_layout, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignalsError, match=r"missing input: no catalogue at .* \(run `signals generate`"):
        check_all_inputs(DataLayout(tmp_path), ["content_metadata"], [START])
    check_all_inputs(small_layout, list(JOBS)[:5], [START, START + timedelta(days=2)])
    later = START + timedelta(days=5)
    with pytest.raises(SignalsError, match=f"no listening events for {later.isoformat()}"):
        check_all_inputs(small_layout, ["content_engagement"], [later])


def test_a_transform_gets_exactly_the_inputs_its_job_declares(spark) -> None:  # type: ignore[no-untyped-def]
    content = spark.createDataFrame([("c1", 1000)], "content_id string, duration_ms long")
    with pytest.raises(TypeError, match="content_engagement takes content, day, events; given content, day"):
        content_engagement.JOB.compute(START, datetime.now(UTC), content=content)


def test_rerunning_a_date_replaces_it_with_the_same_values(spark, gate, small_layout) -> None:  # type: ignore[no-untyped-def]
    day = START + timedelta(days=2)
    first = run_job(spark, small_layout, "content_metadata", day, gate)
    before = spark.read.parquet(str(first.path)).drop("created_timestamp").collect()
    second = run_job(spark, small_layout, "content_metadata", day, gate)
    after = spark.read.parquet(str(second.path)).drop("created_timestamp")
    assert first.path == second.path and first.run_id != second.run_id
    assertDataFrameEqual(after, before, checkRowOrder=False)
    table_dir = small_layout.signal_table_dir("content_metadata")
    assert [p.name for p in table_dir.iterdir()] == [f"date={day.isoformat()}"]
    assert list((small_layout.staging_dir / "content_metadata").iterdir()) == []


def test_the_gate_scans_a_cached_partition_with_at_most_one_partition_per_core(spark) -> None:  # type: ignore[no-untyped-def]
    """Every scan of the gate runs a task per cached partition; after a 16-way shuffle that was 16
    tasks per scan on 2 cores (see BENCHMARKS.md). Coalescing must keep every row and never add
    partitions to a frame that already has fewer."""
    cores = spark.sparkContext.defaultParallelism
    shuffled = spark.range(0, 10_000).repartition(cores * 8, "id")
    frame = persisted_partition(shuffled)
    try:
        assert frame.is_cached
        assert frame.rdd.getNumPartitions() == cores
        assert frame.count() == 10_000 and frame.distinct().count() == 10_000
    finally:
        frame.unpersist()
    single = persisted_partition(spark.range(0, 100, numPartitions=1))
    try:
        assert single.rdd.getNumPartitions() == 1
    finally:
        single.unpersist()


def test_a_backfill_runs_every_day_in_order_with_progress(spark, gate, small_layout) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    days = [START + timedelta(days=i) for i in (2, 0, 1)]
    report = run_many(spark, small_layout, ["content_metadata"], days, gate, lines.append)
    assert [r.day for r in report.published] == sorted(days) and report.quarantined == []
    assert [line.split(":")[0] for line in lines] == [
        f"[{i}/3] content_metadata {d.isoformat()}" for i, d in enumerate(sorted(days), start=1)
    ]
    assert "left" in lines[0]


@pytest.mark.slow
def test_a_job_killed_mid_write_leaves_the_published_partition_intact(  # type: ignore[no-untyped-def]
    spark, gate, tmp_path: Path
) -> None:
    layout = DataLayout(tmp_path)
    spec = GenerationSpec(items=150_000, creators=2_000, days=1, events_per_day=300_000, start_date=START)
    write_catalogue(spec, layout)
    published = run_job(spark, layout, "content_metadata", START, gate).path
    before = _files(published)

    process = subprocess.Popen(
        [
            SIGNALS,
            "--data-dir",
            str(tmp_path),
            "jobs",
            "run",
            "content_metadata",
            "--date",
            START.isoformat(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    staging = layout.staging_dir / "content_metadata"
    deadline = time.monotonic() + 240
    try:
        while not any(staging.glob(f"date={START.isoformat()}.*")):
            assert process.poll() is None, "the job finished before it started writing"
            assert time.monotonic() < deadline, "the job never started writing"
            time.sleep(0.002)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)

    assert _files(published) == before, "the published partition changed"
    assert any(staging.glob(f"date={START.isoformat()}.*")), "the killed write was not left in staging"
    assert spark.read.parquet(str(published)).count() == spec.items
