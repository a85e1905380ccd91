"""The quality gate at depth: each kind of bad batch is caught by the expectation that describes
it; errors block and warnings publish; every run is recorded; quarantined runs are released only
after a passing re-validation or with a recorded override."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from content_signals.config import PlatformConfig, QualityConfig, load_config
from content_signals.definitions import CONTENT_METADATA
from content_signals.errors import GateFailed, SignalsError
from content_signals.expectations.gate import QualityGate, quality_gate
from content_signals.expectations.history import ValidationHistory, open_history
from content_signals.expectations.operations import freshness, quarantine_items, release
from content_signals.expectations.profile import baseline_profile, profile
from content_signals.jobs.runner import run_job
from content_signals.layout import DataLayout
from content_signals.synthetic import GenerationSpec, write_catalogue

SIGNALS = str(Path(sys.executable).parent / "signals")
START = date(2026, 3, 1)


def _failed(result) -> set[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return {(f.expectation, f.column) for f in result.failures}


@pytest.fixture(scope="module")
def published(pipeline, spark) -> DataFrame:  # type: ignore[no-untyped-def]
    path = pipeline.layout.signal_partition("content_metadata", pipeline.feature_day)
    return spark.read.parquet(str(path)).cache()


@pytest.fixture(scope="module")
def baseline(pipeline, spark):  # type: ignore[no-untyped-def]
    return baseline_profile(spark, pipeline.layout, CONTENT_METADATA, pipeline.feature_day)


def test_a_good_batch_passes_against_its_history(gate, published, baseline) -> None:  # type: ignore[no-untyped-def]
    assert baseline is not None and baseline.rows == published.count()
    result = gate.validate(published, CONTENT_METADATA, baseline)
    assert result.outcome == "passed", result.summary()
    # Schema and value checks from the definitions, plus the row-count band and drift checks.
    kinds = {o.expectation for o in result.outcomes}
    assert {"expect_table_row_count_to_be_between", "expect_column_mean_to_be_between",
            "expect_column_approx_median_to_be_between",
            "expect_column_proportion_of_non_null_values_to_be_between"} <= kinds  # fmt: skip


def test_bad_keys_and_values_are_named(gate, published, baseline) -> None:  # type: ignore[no-untyped-def]
    orphan = published.limit(1).withColumn("content_id", F.lit(None).cast("string"))
    duplicate = published.where("content_id = 'c000003'")
    negative = published.withColumn(
        "duration_seconds",
        F.when(F.col("content_id") == "c000001", F.lit(-1.0)).otherwise(F.col("duration_seconds")),
    )
    result = gate.validate(negative.unionByName(orphan).unionByName(duplicate), CONTENT_METADATA, baseline)
    assert result.outcome == "blocked"
    assert {
        ("expect_column_values_to_not_be_null", "content_id"),
        ("expect_column_values_to_be_unique", "content_id"),
        ("expect_column_values_to_be_between", "duration_seconds"),
    } <= _failed(result)
    assert "-1.0" in result.summary()  # the offending value is shown


def test_a_renamed_column_and_a_changed_type_are_named(gate, published, baseline) -> None:  # type: ignore[no-untyped-def]
    changed = published.withColumnRenamed("has_url", "has_link").withColumn(
        "title_length", F.col("title_length").cast("string")
    )
    result = gate.validate(changed, CONTENT_METADATA, baseline)
    failed = _failed(result)
    assert ("expect_table_columns_to_match_set", None) in failed
    assert ("expect_column_values_to_be_of_type", "title_length") in failed
    assert ("expect_column_values_to_be_of_type", "has_url") in failed  # missing: cannot be evaluated


def test_an_empty_partition_and_a_row_count_collapse_block(gate, published, baseline) -> None:  # type: ignore[no-untyped-def]
    empty = gate.validate(published.limit(0), CONTENT_METADATA, baseline)
    assert ("expect_table_row_count_to_be_between", None) in _failed(empty)
    collapsed = gate.validate(published.limit(baseline.rows // 4), CONTENT_METADATA, baseline)
    assert _failed(collapsed) == {("expect_table_row_count_to_be_between", None)}
    assert f"observed {baseline.rows // 4}" in collapsed.summary()


def test_drift_is_a_warning_that_still_publishes(gate, published, baseline) -> None:  # type: ignore[no-untyped-def]
    drifted = published.withColumn("description_length", F.col("description_length") * 3)
    result = gate.validate(drifted, CONTENT_METADATA, baseline)
    assert result.success and result.outcome == "warned"
    warned = {(w.expectation, w.column) for w in result.warnings}
    assert ("expect_column_mean_to_be_between", "description_length") in warned
    assert ("expect_column_approx_median_to_be_between", "description_length") in warned
    assert all(w.severity == "warning" for w in result.warnings)


def test_drift_can_be_made_blocking_by_config(published, baseline) -> None:  # type: ignore[no-untyped-def]
    strict = QualityGate(load_config(overrides={"quality": {"drift_severity": "error"}}).quality)
    drifted = published.withColumn("title_caps_ratio", F.lit(1.0))
    result = strict.validate(drifted, CONTENT_METADATA, baseline)
    assert result.outcome == "blocked"
    assert ("expect_column_mean_to_be_between", "title_caps_ratio") in _failed(result)


def test_the_data_docs_index_lists_only_the_newest_runs(published, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every run keeps its page, but the index (which GE rebuilds, reloading each run it lists,
    after every validation) is capped, so validation does not slow down as history grows."""
    gate = QualityGate(QualityConfig(data_docs_index_runs=2), tmp_path / "gx")
    pages = [gate.validate(published, CONTENT_METADATA, run_name=f"run-{i}").data_docs for i in range(3)]
    assert all(page and Path(page.removeprefix("file://")).is_file() for page in pages)
    site = tmp_path / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
    index = (site / "index.html").read_text()
    assert "run-2" in index and "run-1" in index and "run-0" not in index
    # A gate opened later on the same project with another cap applies its own.
    reopened = QualityGate(QualityConfig(data_docs_index_runs=1), tmp_path / "gx")
    reopened.validate(published, CONTENT_METADATA, run_name="run-3")
    index = (site / "index.html").read_text()
    assert "run-3" in index and "run-2" not in index


# --- runs, history, quarantine and release on a small catalogue of their own -------------------


@pytest.fixture()
def small(tmp_path: Path) -> PlatformConfig:
    config = load_config(overrides={"data_dir": str(tmp_path), "quality": {"data_docs": True}})
    spec = GenerationSpec(items=150, creators=15, days=3, events_per_day=500, start_date=START)
    write_catalogue(spec, DataLayout(config.data_dir))
    return config


def _break_catalogue(layout: DataLayout) -> None:
    table = pq.read_table(layout.content_path)
    rows = table.to_pylist()
    rows[1]["duration_ms"] = -5_000
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), layout.content_path)


def test_runs_are_recorded_and_a_blocked_run_is_released_only_with_an_override(small, spark) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(small.data_dir)
    gate, day1, day2 = quality_gate(small), START + timedelta(days=1), START + timedelta(days=2)
    with open_history(small) as history:
        run_job(spark, layout, "content_metadata", day1, gate, history=history)
        _break_catalogue(layout)
        with pytest.raises(GateFailed, match=r"expect_column_values_to_be_between\(duration_seconds\)"):
            run_job(spark, layout, "content_metadata", day2, gate, history=history)
        runs = history.runs(table="content_metadata")
    assert [(r.partition, r.outcome) for r in runs] == [(day2, "blocked"), (day1, "passed")]
    assert runs[0].stats["description_length"]["mean"] == pytest.approx(
        runs[1].stats["description_length"]["mean"]
    )
    assert runs[0].data_docs and Path(runs[0].data_docs.removeprefix("file://")).is_file()
    failed = [o for o in runs[0].expectations if not o.success]
    assert [(o.expectation, o.column, o.severity) for o in failed] == [
        ("expect_column_values_to_be_between", "duration_seconds", "error")
    ]
    assert json.loads(failed[0].threshold or "{}")["min_value"] == 0.0

    [item] = quarantine_items(layout)
    assert (item.table, item.partition) == ("content_metadata", day2)
    assert not layout.signal_partition("content_metadata", day2).exists()

    # Re-validation still fails: the run stays quarantined.
    with pytest.raises(GateFailed, match="stays quarantined"):
        release(small, spark, "content_metadata", day2)
    with pytest.raises(SignalsError, match="--override needs --reason"):
        release(small, spark, "content_metadata", day2, override=True)
    reason = "known bad row, fixed upstream"
    done = release(small, spark, "content_metadata", day2, override=True, reason=reason, released_by="oncall")
    assert done.published == layout.signal_partition("content_metadata", day2)
    assert spark.read.parquet(str(done.published)).count() == 150
    assert quarantine_items(layout) == []
    with ValidationHistory(small.quality_history_url) as history:
        [recorded] = history.releases()
        assert (recorded.released_by, recorded.override, recorded.reason) == (
            "oncall",
            True,
            "known bad row, fixed upstream",
        )
        assert history.runs(table="content_metadata")[0].trigger == "release"


def test_a_run_that_passes_revalidation_is_released_without_override(small, spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(small.data_dir)
    day1, day2 = START + timedelta(days=1), START + timedelta(days=2)
    run_job(spark, layout, "content_metadata", day1, quality_gate(small))
    # Half the catalogue disappears: a row-count collapse blocks the next day.
    table = pq.read_table(layout.content_path)
    pq.write_table(table.slice(0, 60), layout.content_path)
    with pytest.raises(GateFailed, match="expect_table_row_count_to_be_between"):
        run_job(spark, layout, "content_metadata", day2, quality_gate(small))
    # The owners confirm the catalogue shrank on purpose and widen the band: re-validation passes.
    widened = small.model_copy(
        update={"quality": small.quality.model_copy(update={"row_count_min_ratio": 0.1})}
    )
    done = release(widened, spark, "content_metadata", day2)
    assert done.revalidation is not None and done.revalidation.success
    assert not done.release.override
    assert spark.read.parquet(str(layout.signal_partition("content_metadata", day2))).count() == 60


def test_cli_validate_quarantine_and_freshness(small, spark) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(small.data_dir)
    day1, day2 = START + timedelta(days=1), START + timedelta(days=2)
    run_job(spark, layout, "content_metadata", day1, quality_gate(small))
    _break_catalogue(layout)
    with pytest.raises(GateFailed):
        run_job(spark, layout, "content_metadata", day2, quality_gate(small))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SIGNALS, "--data-dir", str(small.data_dir), *args],
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip

    listed = cli("quarantine", "list")
    assert listed.returncode == 0 and f"content_metadata  {day2.isoformat()}" in listed.stdout
    assert "expect_column_values_to_be_between(duration_seconds)" in listed.stdout
    refused = cli("quarantine", "release", "content_metadata", "--date", day2.isoformat(), "--override")
    assert refused.returncode == 1 and refused.stderr.strip().startswith("error: --override needs --reason")
    revalidated = cli("validate", "content_metadata", "--date", day2.isoformat())
    assert revalidated.returncode == 3, revalidated.stderr
    assert "duration_seconds" in revalidated.stderr
    stale = cli("quality", "freshness")  # nothing was ever materialized online
    assert stale.returncode == 4 and "stale feature views" in stale.stderr
    assert {row.view for row in freshness(small) if row.stale} == set(small_tables())


def small_tables() -> list[str]:
    from content_signals.definitions import SIGNAL_TABLES

    return list(SIGNAL_TABLES)


def test_freshness_follows_what_was_materialized(pipeline) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, time

    end_of_day = datetime.combine(pipeline.feature_day + timedelta(days=1), time.min, tzinfo=UTC)
    fresh = freshness(pipeline.config, now=end_of_day + timedelta(hours=5))
    assert all(row.latest_partition == pipeline.feature_day and not row.stale for row in fresh)
    assert fresh[0].age_hours == pytest.approx(5.0)
    later = freshness(pipeline.config, now=end_of_day + timedelta(hours=49))
    assert all(row.stale for row in later)


def test_profile_counts_nulls_and_medians(spark) -> None:  # type: ignore[no-untyped-def]
    from tests.rows import CREATED, DAY, PARTITION_TS

    frame = spark.createDataFrame(
        [("a", PARTITION_TS, CREATED, 10), ("b", PARTITION_TS, CREATED, None),
         ("c", PARTITION_TS, CREATED, 30), ("d", PARTITION_TS, CREATED, 20)],
        "content_id string, event_timestamp timestamp, created_timestamp timestamp, description_length long",
    )  # fmt: skip
    result = profile(frame, CONTENT_METADATA, DAY)
    column = result.columns["description_length"]
    assert (result.rows, column.mean, column.p50, column.null_rate) == (4, 20.0, 20.0, 0.25)
