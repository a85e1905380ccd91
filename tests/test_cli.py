"""The CLI's error paths: one line on stderr, non-zero exit, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

SIGNALS = str(Path(sys.executable).parent / "signals")


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SIGNALS, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "run", "content_engagement"], "--date is required"),
        (["jobs", "run", "content_engagement", "--date", "2026-02-30"], "invalid date '2026-02-30'"),
        (["jobs", "run", "content_engagement", "--date", "yesterday"], "invalid date 'yesterday'"),
        (["jobs", "run", "no_such_job", "--date", "2026-01-01"], "unknown job 'no_such_job'"),
        (["jobs", "run", "content_engagement", "--date", "2026-01-01"], "missing input: no catalogue"),
        (["publish", "--date", "2026-01-01"], "nothing to publish for 2026-01-01: no table has a validated"),
        (
            ["publish", "--date", "2026-01-01", "--table", "content_metadata"],
            "no validated content_metadata partition for 2026-01-01",
        ),
        (["publish", "--date", "2026-01-01", "--table", "nope"], "unknown table 'nope'"),
        (["train", "engagement", "--date", "2026-01-01"], "no validated content_engagement partition"),
        (["generate", "--items", "0"], "--items"),
        (["generate", "--start-date", "2026-1-1x"], "invalid date"),
        (["import", "catalog", "/no/such/file.tsv"], "catalogue file /no/such/file.tsv does not exist"),
        (["import", "catalog", "x.tsv", "--mapping", "nope"], "no catalogue mapping 'nope'"),
        (
            ["training-set", "--entities", "/no/e.csv", "--feature-service", "ranking_v1", "--out", "/no/o"],
            "entities file /no/e.csv does not exist",
        ),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(*args, data_dir=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]


def test_missing_events_for_the_date_are_named(tmp_path: Path) -> None:
    generated = run("generate", "--items", "20", "--creators", "3", "--days", "2", "--events-per-day", "50",
                    "--start-date", "2026-04-01", data_dir=tmp_path)  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    result = run("jobs", "run", "content_engagement", "--date", "2026-04-05", data_dir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: missing input: no listening events for 2026-04-05 at "
        f"{tmp_path.resolve()}/raw/events/date=2026-04-05"
    )
    assert not (tmp_path / "signals").exists()


def test_generate_is_deterministic_from_the_command_line(tmp_path: Path) -> None:
    flags = [
        "generate",
        "--items",
        "30",
        "--creators",
        "4",
        "--days",
        "1",
        "--events-per-day",
        "100",
        "--seed",
        "3",
    ]
    for name in ("a", "b"):
        assert run(*flags, data_dir=tmp_path / name).returncode == 0
    content = [pq.read_table(tmp_path / n / "raw" / "catalog" / "content.parquet") for n in ("a", "b")]
    assert content[0].num_rows == 30 and content[0].equals(content[1])


def test_a_bad_config_file_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("spark:\n  mastr: local\n")
    result = subprocess.run(
        [SIGNALS, "--config", str(config), "jobs", "list"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: invalid config: spark.mastr: Extra inputs are not permitted"
