"""Our online writer against Feast's own ``materialize``, into Redis and into SQLite.

One generated daily partition of ``content_metadata`` (1,000,000 rows by default, every signal,
a realistic mix of values and nulls, four Parquet files as a Spark job writes them) is written
into the online store twice per store: by ``feature_repo.online_write.write_partition`` into one
project and by ``FeatureStore.materialize`` (file offline source over the same partition,
``online_write_batch_size: 10000`` as the repo configures it) into another. Each side runs in a
child process of its own, so its peak RSS is its own. Afterwards a sample of entities is read back
raw from both projects and compared byte for byte. Goals: rows/s into Redis >= 10x Feast's, our
peak memory <= 1 GB (results in ``materialize.json``).

Redis is the one at ``--redis`` (db 3 by default); only the two projects' keys are touched, and
deleted afterwards.

Usage: python -m bench.bench_materialize [--rows 1000000] [--redis 127.0.0.1:6379,db=3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.harness import Row, print_table, write_results
from content_signals.definitions import (
    CREATED_TIMESTAMP,
    ENTITY_TIMESTAMP,
    SIGNAL_TABLES,
    Signal,
    SignalTable,
)

TABLE = SIGNAL_TABLES["content_metadata"]
EVENT_TIME = datetime(2026, 1, 8, tzinfo=UTC)  # end of the partition date 2026-01-07
RATE_GOAL = 10.0
MEMORY_GOAL_MB = 1024.0
FILES = 4
SAMPLE = 2_000
LANGUAGES = ("en", "es", "pt", "de", "fr", "it", "ja", "ko", "sv", "nl", "pl", "tr", "hi", "ar")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--redis", default="127.0.0.1:6379,db=3", help="Feast Redis connection string")
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--stores", default="redis,sqlite", help="comma-separated: redis, sqlite")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON arguments of one measured side
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return

    root = Path(tempfile.mkdtemp(prefix="bench-materialize-"))
    partition = root / "signals" / TABLE.name / "date=2026-01-07"
    metrics = root / "metrics"
    metrics.mkdir()
    started = time.perf_counter()
    generate_partition(partition, TABLE, args.rows, seed=7)
    size_mb = sum(p.stat().st_size for p in partition.iterdir()) / 2**20
    print(f"generated {args.rows:,} rows ({size_mb:.0f} MB Parquet) in {time.perf_counter() - started:.0f}s")
    rows: list[Row] = []
    details: dict[str, Any] = {
        "rows": args.rows,
        "features": len(TABLE.signals),
        "parquet_mb": round(size_mb, 1),
        "batch_rows": args.batch_rows,
        "feast_online_write_batch_size": 10_000,
    }
    tag = uuid.uuid4().hex[:8]
    try:
        for store in args.stores.split(","):
            online: dict[str, Any] = (
                {"type": "redis", "connection_string": args.redis}
                if store == "redis"
                else {"type": "sqlite", "path": str(root / f"online_{tag}.db")}
            )
            projects = {"ours": f"bench_ours_{tag}", "feast": f"bench_feast_{tag}"}
            runs: dict[str, dict[str, Any]] = {}
            try:
                for side in ("ours", "feast"):
                    spec = {
                        "side": side,
                        "online": online,
                        "project": projects[side],
                        "partition": str(partition),
                        "root": str(root),
                        "batch_rows": args.batch_rows,
                    }
                    runs[side] = _run_child(spec, metrics)
                    print(
                        f"  {store} {side}: {runs[side]['rows']:,} rows in {runs[side]['seconds']:.1f}s "
                        f"({runs[side]['rows'] / runs[side]['seconds']:,.0f} rows/s), "
                        f"peak {runs[side]['peak_mb']:.0f} MB",
                        flush=True,
                    )
                identical = _compare_sample(online, projects, partition, args.rows)
            finally:
                _cleanup(online, projects.values())
            ours, feast = runs["ours"], runs["feast"]
            ours_rate, feast_rate = ours["rows"] / ours["seconds"], feast["rows"] / feast["seconds"]
            rate_goal = RATE_GOAL if store == "redis" else 1.0
            rows.append(
                Row(
                    measure=f"{store}: rows/s written ({len(TABLE.signals)} features)",
                    unit="rows/s",
                    ours=ours_rate,
                    baseline=feast_rate,
                    baseline_name="Feast 0.67 FeatureStore.materialize (file source, batch size 10000)",
                    ratio=feast_rate / ours_rate,
                    goal=f"<= {1 / rate_goal:g}x Feast",
                    met=feast_rate * rate_goal <= ours_rate,
                )
            )
            rows.append(
                Row(
                    measure=f"{store}: peak RSS of the writing process",
                    unit="MB",
                    ours=ours["peak_mb"],
                    baseline=feast["peak_mb"],
                    baseline_name="Feast 0.67 FeatureStore.materialize (file source, batch size 10000)",
                    ratio=ours["peak_mb"] / feast["peak_mb"],
                    goal=f"<= {MEMORY_GOAL_MB:g} MB",
                    met=ours["peak_mb"] <= MEMORY_GOAL_MB,
                )
            )
            details[store] = {"ours": ours, "feast": feast, "sample_identical": identical}
            if not identical:
                print(f"  {store}: stored bytes DIFFER between our writer and Feast's", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table("Online store writes: write_partition vs Feast materialize", rows)
    print(f"results: {write_results('materialize', rows, details)}")


# --- data --------------------------------------------------------------------------------------


def generate_partition(path: Path, table: SignalTable, rows: int, seed: int) -> None:
    """``rows`` rows of ``table`` in ``FILES`` Parquet files, one row group each (as Spark writes)."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width = max(6, len(str(rows)))
    ids = np.char.add("c", np.char.zfill(np.arange(rows).astype(str), width))
    columns: dict[str, pa.Array] = {
        table.entity.join_key: pa.array(ids, pa.string()),
        ENTITY_TIMESTAMP: pa.array(np.full(rows, _micros(EVENT_TIME)), pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        CREATED_TIMESTAMP: pa.array(
            np.full(rows, _micros(EVENT_TIME + timedelta(hours=2, seconds=17))), pa.int64()
        ).cast(pa.timestamp("us", tz="UTC")),
    }
    for signal in table.signals:
        columns[signal.name] = _signal_values(signal, rows, rng)
    data = pa.table(columns)
    step = -(-rows // FILES)
    for i in range(FILES):
        part = data.slice(i * step, step)
        pq.write_table(part, path / f"part-{i:05d}.snappy.parquet", row_group_size=max(1, part.num_rows))
    (path / "_SUCCESS").write_bytes(b"")


def _micros(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000


def _signal_values(signal: Signal, rows: int, rng: np.random.Generator) -> pa.Array:
    """Plausible values within the signal's range, with ~8% nulls where it is nullable."""
    mask = rng.random(rows) < 0.08 if signal.nullable else None
    low = signal.min_value if signal.min_value is not None else 0.0
    high = signal.max_value if signal.max_value is not None else 1e6
    if signal.dtype == "int64":
        values = np.clip(rng.lognormal(np.log(max(2.0, min(high, 1e4)) / 8), 1.1, rows), low, high)
        return pa.array(values.astype(np.int64), mask=mask)
    if signal.dtype == "double":
        if high <= 1.0:
            values = rng.beta(2.0, 3.0, rows) * (high - low) + low
            values[rng.random(rows) < 0.2] = low  # many exact zeros, as ratios of empty text have
        else:
            values = np.clip(rng.lognormal(np.log(240.0), 0.8, rows), low, high).round(3)
        return pa.array(values, mask=mask)
    if signal.dtype == "bool":
        return pa.array(rng.random(rows) < 0.15, mask=mask)
    if signal.allowed_values:
        choices = np.array(signal.allowed_values)
    elif "language" in signal.name:
        choices = np.array(LANGUAGES)
    else:  # an id of another entity
        choices = np.char.add("cr", np.char.zfill(np.arange(50_000).astype(str), 6))
    return pa.array(choices[rng.integers(0, len(choices), rows)], pa.string(), mask=mask)


# --- one measured side, in a child process -----------------------------------------------------


def _run_child(spec: dict[str, Any], metrics: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROCESS_DIR": str(metrics),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_materialize", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['side']} into {spec['online']['type']} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _child(spec: dict[str, Any]) -> None:
    partition = Path(spec["partition"])
    if spec["side"] == "ours":
        from content_signals.feature_repo.online_write import write_partition

        result = write_partition(
            spec["online"], spec["project"], TABLE, partition, batch_rows=spec["batch_rows"]
        )
        rows, seconds = result.rows, result.seconds
    else:
        rows, seconds = _feast_materialize(spec, partition)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": round(peak_mb, 1)}))


def _feast_materialize(spec: dict[str, Any], partition: Path) -> tuple[int, float]:
    import warnings

    from content_signals.feature_repo.reference import partition_feature_store

    warnings.filterwarnings("ignore")
    store = partition_feature_store(
        spec["project"], Path(spec["root"]), spec["online"], TABLE, partition, online_write_batch_size=10_000
    )
    started = time.perf_counter()
    store.materialize(EVENT_TIME - timedelta(days=1), EVENT_TIME + timedelta(seconds=1), [TABLE.name])
    seconds = time.perf_counter() - started
    return pq.ParquetDataset(partition).read(columns=[TABLE.entity.join_key]).num_rows, seconds


# --- checking and cleaning up ------------------------------------------------------------------


def _compare_sample(online: dict[str, Any], projects: dict[str, str], partition: Path, rows: int) -> bool:
    """Raw stored bytes of a sample of entities, ours against Feast's."""
    from content_signals.storage_format import entity_keys

    ids = pq.ParquetDataset(partition).read(columns=[TABLE.entity.join_key]).column(0).combine_chunks()
    picks = sorted(random.Random(3).sample(range(rows), min(SAMPLE, rows)))
    keys = entity_keys(TABLE.entity.join_key, ids.take(pa.array(picks))).to_pylist()
    if online["type"] == "redis":
        client = _redis(online)
        stored = {}
        for side, project in projects.items():
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key + project.encode())
            stored[side] = pipe.execute()
        client.close()
        return bool(stored["ours"] == stored["feast"] and all(stored["ours"]))
    with sqlite3.connect(online["path"]) as conn:
        found = {}
        for side, project in projects.items():
            found[side] = [
                conn.execute(
                    "SELECT feature_name, value, value_text, vector_value, event_ts, created_ts, "
                    f'typeof(event_ts) FROM "{project}_{TABLE.name}" WHERE entity_key = ? ORDER BY 1',
                    (key,),
                ).fetchall()
                for key in keys
            ]
    return bool(found["ours"] == found["feast"] and all(found["ours"]))


def _redis(online: dict[str, Any]) -> Any:
    import redis

    from content_signals.feature_repo.online_stores.redis import parse_redis_connection_string

    host, port, kwargs = parse_redis_connection_string(online["connection_string"])
    return redis.Redis(host=host, port=port, **kwargs)


def _cleanup(online: dict[str, Any], projects: Any) -> None:
    """Delete the benchmark projects' keys (Redis); the SQLite file goes with the temp folder."""
    if online["type"] != "redis":
        return
    client = _redis(online)
    for project in projects:
        batch: list[bytes] = []
        for key in client.scan_iter(match=b"*" + project.encode(), count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    client.close()


if __name__ == "__main__":
    main()
