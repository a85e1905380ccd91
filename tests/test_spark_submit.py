"""The same jobs run under spark-submit, as they would on a cluster (here with a local master)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import content_signals.jobs as jobs
from content_signals.jobs.runner import JOBS
from content_signals.layout import DataLayout
from content_signals.synthetic import GenerationSpec, write_catalogue

pytestmark = pytest.mark.slow
SPARK_SUBMIT = str(Path(sys.executable).parent / "spark-submit")
ENTRY = str(Path(jobs.__file__).parent / "submit.py")


def submit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    command = [SPARK_SUBMIT, "--master", "local[2]", "--driver-memory", "1g", ENTRY, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


def test_spark_submit_backfills_every_job(pipeline, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path)
    write_catalogue(
        GenerationSpec(items=100, creators=10, days=2, events_per_day=500, start_date=date(2026, 5, 1)),
        layout,
    )
    shutil.copytree(pipeline.layout.models_root, layout.models_root)  # content_safety scores with it
    result = submit("all", "--start", "2026-05-01", "--end", "2026-05-02", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{2 * len(JOBS)} partitions published, 0 quarantined" in result.stdout
    for name in JOBS:
        for day in (date(2026, 5, 1), date(2026, 5, 2)):
            assert layout.signal_partition(name, day).exists(), (name, day)


def test_spark_submit_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    result = submit("content_metadata", "--date", "2026-05-01", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    # spark-submit forwards the Python process's stderr on its stdout, amid its own JVM logs;
    # our reason is exactly one line.
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: missing input: no catalogue")
