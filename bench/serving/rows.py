"""The result rows: ours against feast serve, the floor and the forward pass, and whether the values
the contenders served agree."""

from __future__ import annotations

from typing import Any

from bench.harness import Row, higher_is_better, lower_is_better
from bench.serving.common import GOAL_SIZE, SCORE_IDS

P99_GOAL = 0.2  # ours <= 1/5 of feast serve's p99
QPS_GOAL = 5.0  # ours >= 5x feast serve's maximum QPS
FLOOR_GOAL = 2.0  # ours within 2x of the floor's p99
SCORE_GOAL = 0.7  # Score items/s >= 70% of the raw forward pass's
FEAST = "feast serve 0.67 (HTTP/JSON, 1 gunicorn worker, no access log)"
FLOOR = "floor: redis-py pipeline (hiredis) + decode_columns, one process"
FORWARD = "raw forward pass (torch, 1 thread, batch 100), one process"


def table_rows(
    sizes: list[int],
    n: int,
    floor: dict[str, Any],
    feast: dict[str, Any] | None,
    ours: dict[str, Any] | None,
    score: dict[str, Any] | None,
    inprocess: dict[str, Any],
) -> list[Row]:
    rows: list[Row] = []
    if ours is None:
        return rows
    for size in sizes:
        mine, base = ours["sizes"][str(size)], floor["sizes"][str(size)]
        goal_here = size == GOAL_SIZE
        label = f"{size:,} ids x {n} features"
        if feast is not None:
            theirs = feast["sizes"][str(size)]
            rows.append(
                lower_is_better(f"p50 latency, {label}", "ms", mine["p50_ms"], theirs["p50_ms"], FEAST)
            )
            rows.append(
                lower_is_better(
                    f"p99 latency, {label}",
                    "ms",
                    mine["p99_ms"],
                    theirs["p99_ms"],
                    FEAST,
                    P99_GOAL if goal_here else None,
                )
            )
            rows.append(
                higher_is_better(
                    f"max QPS, {label}",
                    "req/s",
                    mine["max_qps"],
                    theirs["max_qps"],
                    FEAST,
                    QPS_GOAL if goal_here else None,
                )
            )
        rows.append(
            lower_is_better(f"p50 latency vs floor, {label}", "ms", mine["p50_ms"], base["p50_ms"], FLOOR)
        )
        rows.append(
            lower_is_better(
                f"p99 latency vs floor, {label}",
                "ms",
                mine["p99_ms"],
                base["p99_ms"],
                FLOOR,
                FLOOR_GOAL if goal_here else None,
            )
        )
        rows.append(
            higher_is_better(
                f"QPS vs floor (sequential), {label}", "req/s", mine["max_qps"], base["max_qps"], FLOOR
            )
        )
    if score is not None:
        items = score["sizes"][str(SCORE_IDS)]["max_qps"] * SCORE_IDS
        forward = inprocess["forward_items_per_s"]
        rows.append(
            Row(
                measure=f"Score items/s at saturation ({SCORE_IDS} ids/request)",
                unit="items/s",
                ours=items,
                baseline=forward,
                baseline_name=FORWARD,
                ratio=forward / items,
                goal=f"<= {1 / SCORE_GOAL:.2f}x (ours >= {SCORE_GOAL:.0%})",
                met=items >= SCORE_GOAL * forward,
            )
        )
    return rows


def agreement(
    floor: dict[str, Any], feast: dict[str, Any] | None, ours: dict[str, Any] | None
) -> dict[str, Any]:
    """Cell by cell, the sample request's values (None where not PRESENT) against the floor's."""
    reference = floor["sample"]
    found: dict[str, Any] = {
        "cells": sum(len(v) for v in reference.values()),
        "present": sum(v is not None for vs in reference.values() for v in vs),
    }
    for name, result in (("ours", ours), ("feast_serve", feast)):
        if result is None:
            continue
        sample = result["sample"]
        differ = 0
        for ref, values in reference.items():
            others = sample.get(ref)
            if others is None:
                differ += len(values)
                continue
            differ += sum(not _same(a, b) for a, b in zip(values, others, strict=True))
        found[f"{name}_cells_differing"] = differ
    return found


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return bool(abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a))))
