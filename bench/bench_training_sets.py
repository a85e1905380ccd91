"""Point-in-time training sets: our Spark join against Feast's own ``get_historical_features``.

A generated catalogue (200,000 items, 100,000 listening events a day for 10 days by default) is
run through three signal jobs of the ``content`` entity (``content_engagement``,
``content_metadata``, ``content_audio``) for the last 3 days, each partition through the quality
gate, so every view has 3 validated daily partitions under ``signals/<table>/``. The Feast repo is
then applied over those partitions (the repo's Spark offline store).

100,000 entity rows (content ids sampled with a fixed seed, event timestamps uniform over the last
3 days, so about a third come before the first partition's timestamp and get nulls) are written
once to a Parquet file that both sides read:

* ours: the ``signals training-set`` path (``write_training_set`` without the registry lookup):
  read the entity rows with Spark, ``build_training_set`` over the three views (every signal),
  persist, write Parquet, count each feature's non-null values;
* Feast: ``FeatureStore.get_historical_features(entity_df=<pandas from the same file>,
  features=["view:feature", ...], full_feature_names=False).to_df()`` on the same offline store.

Each side runs in a child process of its own (this module with ``--side``), with its Spark session
started before the clock starts (Feast reuses the active session). Peak memory is the largest sum
of RSS over the child and all its descendants (the Spark JVM included), polled every 0.2 s.
Afterwards both outputs are compared cell by cell, matched on (content_id, event_timestamp).
No goal was set for this comparison; the rows report ours against Feast with "<= 1x Feast".

Usage: python -m bench.bench_training_sets [--items 200000] [--days 10] [--events-per-day 100000]
       [--entity-rows 100000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from bench.harness import Row, child_env, print_table, write_results
from content_signals.definitions import ENTITY_TIMESTAMP, SIGNAL_TABLES

VIEWS = ("content_engagement", "content_metadata", "content_audio")
PARTITION_DAYS = 3
POLL_SECONDS = 0.2
REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "Feast 0.67 get_historical_features(...).to_df(), Spark offline store"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--creators", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--events-per-day", type=int, default=100_000)
    parser.add_argument("--entity-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side, alternating; best time")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--side", choices=("prepare", "ours", "feast"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)  # JSON arguments of one child
    args = parser.parse_args()
    if args.side:
        _child(args.side, json.loads(args.spec))
        return
    if args.days < PARTITION_DAYS:
        parser.error(f"--days must be at least {PARTITION_DAYS}")

    root = Path(tempfile.mkdtemp(prefix="bench-training-sets-"))
    started = time.perf_counter()
    try:
        rows, details = _bench(args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"data kept in {root}")
    details["bench_wall_s"] = round(time.perf_counter() - started, 1)
    print_table("Point-in-time training sets: build_training_set vs Feast", rows)
    print(f"results: {write_results('training_sets', rows, details)}")
    print(f"total run time {details['bench_wall_s']:.0f}s")


def _bench(args: argparse.Namespace, root: Path) -> tuple[list[Row], dict[str, Any]]:
    spec: dict[str, Any] = {
        "root": str(root),
        "items": args.items,
        "creators": args.creators,
        "days": args.days,
        "events_per_day": args.events_per_day,
    }
    begun = time.perf_counter()
    prepared = _run_child("prepare", spec, root, quiet=False)
    prepare_s = time.perf_counter() - begun
    print(f"prepared in {prepare_s:.0f}s: {prepared['partitions']}", flush=True)

    entities = root / "entities.parquet"
    window_start = datetime.fromisoformat(prepared["window_start"])
    window_end = datetime.fromisoformat(prepared["window_end"])
    _write_entities(root, entities, args.entity_rows, args.seed, window_start, window_end)
    features = {name: [s.name for s in SIGNAL_TABLES[name].signals] for name in VIEWS}
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "feast": []}
    for attempt in range(args.repeats):
        for side in ("ours", "feast"):
            out = root / f"{side}-{attempt}.parquet"
            result = _run_child(side, {**spec, "entities": str(entities), "out": str(out)}, root)
            runs[side].append(result)
            print(
                f"  {side} run {attempt + 1}: {result['rows']:,} rows in {result['seconds']:.1f}s "
                f"(child wall {result['child_wall_s']:.1f}s), peak {result['peak_mb']:,.0f} MB",
                flush=True,
            )
    comparison = _compare(root / "ours-0.parquet", root / "feast-0.parquet", features)
    print(f"  comparison: {comparison}", flush=True)

    ours_s = min(r["seconds"] for r in runs["ours"])
    feast_s = min(r["seconds"] for r in runs["feast"])
    ours_mb = max(r["peak_mb"] for r in runs["ours"])
    feast_mb = max(r["peak_mb"] for r in runs["feast"])
    n_features = sum(len(f) for f in features.values())
    rows = [
        Row(
            measure=f"{args.entity_rows:,} rows x {n_features} features: time",
            unit="s",
            ours=ours_s,
            baseline=feast_s,
            baseline_name=BASELINE,
            ratio=ours_s / feast_s,
            goal="<= 1x Feast",
            met=ours_s <= feast_s,
        ),
        Row(
            measure="peak RSS, child process tree incl. JVM",
            unit="MB",
            ours=ours_mb,
            baseline=feast_mb,
            baseline_name=BASELINE,
            ratio=ours_mb / feast_mb,
            goal="<= 1x Feast",
            met=ours_mb <= feast_mb,
        ),
    ]
    details: dict[str, Any] = {
        "items": args.items,
        "days_of_events": args.days,
        "events_per_day": args.events_per_day,
        "entity_rows": args.entity_rows,
        "entity_seed": args.seed,
        "entity_window": [window_start.isoformat(), window_end.isoformat()],
        "views": {
            name: {"features": features[name], "ttl_s": SIGNAL_TABLES[name].ttl.total_seconds()}
            for name in VIEWS
        },
        "features": n_features,
        "partitions": prepared["partitions"],
        "prepare_s": round(prepare_s, 1),
        "ours_path": (
            "write_training_set path: Spark reads the entity Parquet, build_training_set, persist, "
            "write Parquet, per-feature non-null counts (no collect to pandas)"
        ),
        "feast_path": (
            "entity_df = pandas from the same Parquet; get_historical_features(features=view:feature, "
            "full_feature_names=False).to_df()"
        ),
        "timing": (
            "seconds: from a started Spark session (same driver memory and master) to the result; "
            "child_wall_s: the whole child process (imports, JVM start, result); peak_mb: max over "
            f"{POLL_SECONDS}s polls of the RSS sum of the child and its descendants"
        ),
        "runs": runs,
        "comparison": comparison,
    }
    return rows, details


# --- data --------------------------------------------------------------------------------------


def _write_entities(root: Path, path: Path, count: int, seed: int, start: datetime, end: datetime) -> None:
    """``count`` rows: content ids drawn with replacement, timestamps uniform in [start, end)."""
    from content_signals.layout import DataLayout

    ids = pq.read_table(DataLayout(root).content_path, columns=["content_id"]).column("content_id")
    ids_np = ids.to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(seed)
    start_us = int(start.timestamp() * 1_000_000)
    span_us = int((end - start).total_seconds() * 1_000_000)
    stamps = start_us + rng.integers(0, span_us, count)
    table = pa.table(
        {
            "content_id": pa.array(ids_np[rng.integers(0, len(ids_np), count)], pa.string()),
            ENTITY_TIMESTAMP: pa.array(stamps, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)


def _prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Catalogue and events, the three jobs for the last days through the gate, then Feast apply."""
    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.errors import GateFailed
    from content_signals.expectations.gate import quality_gate
    from content_signals.feature_repo.repo import build_objects, feature_store
    from content_signals.jobs.runner import run_job
    from content_signals.layout import DataLayout
    from content_signals.spark import spark_session
    from content_signals.synthetic import GenerationSpec, write_catalogue

    root = Path(spec["root"])
    config = load_config(overrides={"data_dir": str(root)})
    prepare_process(config)
    layout = DataLayout(root)
    generation = GenerationSpec(
        items=spec["items"],
        creators=spec["creators"],
        days=spec["days"],
        events_per_day=spec["events_per_day"],
        users=max(1_000, spec["events_per_day"] // 5),
    )
    started = time.perf_counter()
    write_catalogue(generation, layout, progress=lambda line: print(f"  generate: {line}", flush=True))
    print(f"  generated in {time.perf_counter() - started:.0f}s", flush=True)
    days = generation.dates[-PARTITION_DAYS:]
    spark = spark_session(config.spark)
    gate = quality_gate(config)
    partitions: dict[str, dict[str, Any]] = {}
    try:
        for day in days:
            for name in VIEWS:
                begun = time.perf_counter()
                try:
                    run = run_job(spark, layout, name, day, gate)
                    outcome: Any = run.rows
                except GateFailed as exc:
                    outcome = f"quarantined: {exc}"
                partitions.setdefault(name, {})[day.isoformat()] = outcome
                print(
                    f"  {name} {day.isoformat()}: {outcome} ({time.perf_counter() - begun:.0f}s)", flush=True
                )
    finally:
        spark.stop()
    feature_store(config).apply(build_objects(config).all())
    # A partition of date D is timestamped at the end of D (midnight UTC of D + 1).
    window_start = datetime.combine(days[0], datetime.min.time(), UTC)
    window_end = datetime.combine(days[-1], datetime.min.time(), UTC) + timedelta(days=1)
    return {
        "partitions": partitions,
        "window_start": window_start.isoformat(),
        "window_end": window_end.isoformat(),
    }


# --- one measured side, in a child process -----------------------------------------------------


def _run_child(side: str, spec: dict[str, Any], root: Path, quiet: bool = True) -> dict[str, Any]:
    """Run this module with ``--side``; return its JSON result plus the process tree's peak RSS."""
    env = child_env(REPO_ROOT)
    log = root / f"{side}.log"
    result_path = root / f"{side}.json"
    spec = {**spec, "result": str(result_path)}
    command = [sys.executable, "-m", "bench.bench_training_sets", "--side", side, "--spec", json.dumps(spec)]
    started = time.perf_counter()
    # cwd: the data folder, so that nothing Spark or Feast writes lands in the repository.
    with log.open("w") as output:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=None if not quiet else output,
            stderr=output,
        )
        peak = _poll_peak_rss(proc)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"side {side} failed (exit {proc.returncode}):\n{log.read_text()[-4000:]}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["peak_mb"] = round(peak / 2**20, 1)
    result["child_wall_s"] = round(wall, 2)
    return result


def _poll_peak_rss(proc: subprocess.Popen[bytes]) -> int:
    """Largest RSS sum of ``proc`` and its descendants (the Spark JVM), polled until it exits."""
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            members = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            members = []
        for member in members:
            with contextlib.suppress(psutil.Error):
                total += member.memory_info().rss
        peak = max(peak, total)
        time.sleep(POLL_SECONDS)
    return peak


def _child(side: str, spec: dict[str, Any]) -> None:
    if side == "prepare":
        result = _prepare(spec)
    elif side == "ours":
        result = _ours(spec)
    else:
        result = _feast(spec)
    Path(spec["result"]).write_text(json.dumps(result))


def _ours(spec: dict[str, Any]) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.feature_repo.training_sets import ViewRequest, build_training_set, read_table_file
    from content_signals.layout import DataLayout
    from content_signals.spark import spark_session

    config = load_config(overrides={"data_dir": spec["root"]})
    prepare_process(config)
    spark = spark_session(config.spark)
    views = [ViewRequest(SIGNAL_TABLES[n], tuple(s.name for s in SIGNAL_TABLES[n].signals)) for n in VIEWS]
    names = [f for v in views for f in v.features]
    started = time.perf_counter()
    entities = read_table_file(spark, Path(spec["entities"]), "entities")
    frame = build_training_set(spark, DataLayout(config.data_dir), entities, views).persist()
    frame.write.mode("overwrite").parquet(spec["out"])
    written = time.perf_counter() - started
    counts = frame.agg(F.count(F.lit(1)).alias("_rows"), *[F.count(n).alias(n) for n in names]).first()
    frame.unpersist()
    seconds = time.perf_counter() - started
    spark.stop()
    assert counts is not None
    rows = int(counts["_rows"])
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "build_and_write_s": round(written, 2),
        "null_share": {n: round(1.0 - counts[n] / rows, 4) for n in names},
    }


def _feast(spec: dict[str, Any]) -> dict[str, Any]:
    from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
        get_spark_session_or_start_new_with_repoconfig,
    )

    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.feature_repo.repo import feature_store

    config = load_config(overrides={"data_dir": spec["root"]})
    prepare_process(config)
    store = feature_store(config)
    # Started here, before the clock, as ours is; Feast reuses the active session.
    spark = get_spark_session_or_start_new_with_repoconfig(store.config.offline_store)
    refs = [f"{n}:{s.name}" for n in VIEWS for s in SIGNAL_TABLES[n].signals]
    started = time.perf_counter()
    entity_df = pd.read_parquet(spec["entities"])
    job = store.get_historical_features(entity_df=entity_df, features=refs, full_feature_names=False)
    frame = job.to_df()
    seconds = time.perf_counter() - started
    frame.to_parquet(spec["out"])  # for the comparison, after the clock
    spark.stop()
    return {"rows": len(frame), "seconds": round(seconds, 2), "columns": list(frame.columns)}


# --- comparison --------------------------------------------------------------------------------


def _compare(ours_path: Path, feast_path: Path, features: dict[str, list[str]]) -> dict[str, Any]:
    """Cell-by-cell agreement, rows matched on (content_id, event_timestamp)."""
    names = [f for fs in features.values() for f in fs]
    keys = ["content_id", ENTITY_TIMESTAMP]
    ours = pd.read_parquet(ours_path)
    feast = pd.read_parquet(feast_path)
    for frame in (ours, feast):
        frame[ENTITY_TIMESTAMP] = pd.to_datetime(frame[ENTITY_TIMESTAMP], utc=True)
    merged = ours[keys + names].merge(
        feast[keys + names], on=keys, how="outer", suffixes=("_ours", "_feast"), indicator=True
    )
    only = merged["_merge"].value_counts().to_dict()
    both = merged[merged["_merge"] == "both"]
    per_feature: dict[str, int] = {}
    bad_rows = np.zeros(len(both), dtype=bool)
    for name in names:
        a, b = both[f"{name}_ours"], both[f"{name}_feast"]
        a_null, b_null = a.isna().to_numpy(), b.isna().to_numpy()
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            av = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
            bv = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
            equal = np.isclose(av, bv, rtol=1e-9, atol=1e-12) | (a_null & b_null)
        else:
            equal = (a.astype(object).to_numpy() == b.astype(object).to_numpy()) | (a_null & b_null)
        differ = ~equal
        if differ.any():
            per_feature[name] = int(differ.sum())
        bad_rows |= differ
    return {
        "ours_rows": len(ours),
        "feast_rows": len(feast),
        "matched_rows": len(both),
        "only_ours": int(only.get("left_only", 0)),
        "only_feast": int(only.get("right_only", 0)),
        "duplicate_keys_ours": int(ours.duplicated(keys).sum()),
        "rows_with_mismatch": int(bad_rows.sum()),
        "cells_compared": len(both) * len(names),
        "mismatched_cells": int(sum(per_feature.values())),
        "mismatches_by_feature": per_feature,
        "null_cells_ours": int(both[[f"{n}_ours" for n in names]].isna().sum().sum()),
        "null_cells_feast": int(both[[f"{n}_feast" for n in names]].isna().sum().sum()),
    }


if __name__ == "__main__":
    main()
