"""One definition per signal: a new definition reaches the job output, the suite and Feast's plan."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from content_signals.definitions import CONTENT_METADATA, SIGNAL_TABLES, Signal
from content_signals.expectations.suites import build_suite
from content_signals.feature_repo.plan import plan
from content_signals.jobs.runner import build_partition, get_job

DESCRIPTION_WORDS = Signal(
    "description_word_count",
    "int64",
    "Words in the description (runs of letters, digits and apostrophes).",
    sql="text_word_count - title_word_count",
    unit="words",
    min_value=0,
    max_value=1_000_000,
)


def test_every_signal_is_defined_once_with_its_computation() -> None:
    names = [(table.name, signal.name) for table in SIGNAL_TABLES.values() for signal in table.signals]
    assert len(names) == len(set(names))
    assert all(signal.sql.strip() for table in SIGNAL_TABLES.values() for signal in table.signals)


def test_a_new_signal_definition_reaches_the_job_the_suite_and_the_feast_plan(pipeline, spark, gate) -> None:  # type: ignore[no-untyped-def]
    extended = CONTENT_METADATA.with_signals(DESCRIPTION_WORDS)

    job = get_job(CONTENT_METADATA.name)
    frame = build_partition(spark, pipeline.layout, job, pipeline.feature_day, datetime.now(UTC), extended)
    assert frame.columns[-1] == "description_word_count"
    rows = frame.select("content_id", "description_word_count").collect()
    content = {
        r["content_id"]: r["description"]
        for r in spark.read.parquet(str(pipeline.layout.content_path)).collect()
    }
    for row in rows:
        description = content[row["content_id"]] or ""
        assert row["description_word_count"] == len(re.findall(r"(?:[^\W_]|')+", description)), description

    suite = build_suite(extended)
    checked = {
        e.expectation_type
        for e in suite.expectations
        if getattr(e, "column", None) == "description_word_count"
    }
    assert checked == {
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
    }
    assert gate.validate(frame, extended).success

    changes = plan(pipeline.config, {**SIGNAL_TABLES, extended.name: extended})
    assert changes == [
        "update feature view content_metadata",
        "    + feature description_word_count",
        "update feature service ranking_v1",
        "    + content_metadata.description_word_count",
        "update feature service ranking_v2",
        "    + content_metadata.description_word_count",
    ]


def test_signals_plan_reports_no_changes_for_the_applied_repo(pipeline) -> None:  # type: ignore[no-untyped-def]
    signals = str(Path(sys.executable).parent / "signals")
    result = subprocess.run(
        [signals, "--data-dir", str(pipeline.config.data_dir), "plan"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no changes: the registry matches the signal definitions"


def test_the_signal_catalogue_matches_the_definitions() -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "gen_signal_docs.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
