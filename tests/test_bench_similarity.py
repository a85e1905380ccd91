"""Smoke test of bench/bench_similarity.py: its whole code path at a tiny size, Feast included."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_similarity import build_parser, run


@pytest.mark.slow
def test_similarity_benchmark_runs_small(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "--vectors",
            "2000",
            "--queries",
            "100",
            "--exact-queries",
            "20",
            "--feast-queries",
            "5",
            "--qps-seconds",
            "0.5",
            "--grpc-queries",
            "50",
            "--no-titles",
            "--workdir",
            str(tmp_path),
        ]
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rows, details = run(args, run_dir)
    by_measure = {row.measure: row for row in rows}
    assert by_measure["recall@10, full build"].ours >= 90
    assert details["feast"]["recall_at_10"] >= 0.9  # sqlite-vec's KNN is exact
    assert details["feast"]["n"] >= 5 and details["feast"]["max_qps"] > 0
    assert details["ours"]["update_s"] < details["ours"]["rebuild_s"]
    assert details["memory"]["view"]["load_s"] >= 0
    assert "incremental update of 1%" in by_measure
    assert not details.get("grpc_skipped")
    assert details["grpc"]["p99_ms"] > 0 and details["grpc"]["max_qps"] > 0
