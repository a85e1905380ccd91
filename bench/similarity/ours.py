"""Ours: the index built and updated with ``content_signals.similarity.index`` (usearch HNSW), its
recall against exact search, in-process query latency and rate, and the exact-search baseline."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.similarity.common import K, percentiles, say
from bench.similarity.data import Items

TABLE = "content_embedding"
DAY = date(2026, 1, 7)


def build(root: Path, items: Items, day: date, encoder_digest: str) -> tuple[Path, float, Any]:
    """``build_index_version`` into the layout at ``root``; (version folder, wall seconds, manifest)."""
    from content_signals.config import SimilarityConfig
    from content_signals.layout import DataLayout
    from content_signals.similarity.index import build_index_version

    layout = DataLayout(root)
    table = items.table()
    started = time.perf_counter()
    manifest = build_index_version(
        layout,
        TABLE,
        day,
        table,
        source_run_id="bench",
        encoder_digest=encoder_digest,
        settings=SimilarityConfig(),
        progress=lambda line: say(f"    {line}"),
    )
    return layout.vector_index_version(TABLE, day), time.perf_counter() - started, manifest


def build_and_update(
    workdir: Path, before: Items, after: Items, encoder_digest: str, rebuild: bool = True
) -> dict[str, Any]:
    """Full build of ``before``; incremental update to ``after`` (the next day); full rebuild of
    ``after`` in a separate layout, the update's baseline (without ``rebuild``: the first full build,
    of as many vectors, stands in for it)."""
    say(f"  ours: full build of {len(before.ids):,} vectors")
    full_path, full_s, full = build(workdir / "ours", before, DAY, encoder_digest)
    say(f"  ours: incremental update to the next day ({after_counts(before, after)})")
    update_path, update_s, update = build(workdir / "ours", after, DAY + timedelta(days=1), encoder_digest)
    if update.build != "incremental":
        raise RuntimeError(f"the update was a {update.build} build, not incremental")
    if rebuild:
        say(f"  ours: full rebuild of the updated {len(after.ids):,} vectors (the update's baseline)")
        rebuild_path, rebuild_s, rebuilt = build(
            workdir / "rebuild", after, DAY + timedelta(days=1), encoder_digest
        )
    else:
        rebuild_path, rebuild_s, rebuilt = full_path, full_s, full
    index_bytes = (full_path / "index.usearch").stat().st_size
    return {
        "full_path": str(full_path),
        "update_path": str(update_path),
        "rebuild_path": str(rebuild_path),
        "full_build_s": round(full_s, 2),
        "update_s": round(update_s, 2),
        "rebuild_s": round(rebuild_s, 2),
        "rebuild_baseline": "full rebuild of the updated set"
        if rebuild
        else "the first full build (--skip rebuild)",
        "manifests": {"full": full.to_json(), "update": update.to_json(), "rebuild": rebuilt.to_json()},
        "index_file_mib": round(index_bytes / 2**20, 1),
    }


def after_counts(before: Items, after: Items) -> str:
    old, new = set(before.ids), set(after.ids)
    return f"{len(new - old):,} added, {len(old - new):,} removed, the rest kept or replaced"


def query_rows(n: int, count: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).choice(n, size=min(n, count), replace=False)


def ann_neighbours(index: Any, items: Items, rows: np.ndarray) -> list[list[str]]:
    """SimilarContent's in-process path for each query row: the item's stored vector, then its k
    nearest other items."""
    from content_signals.similarity.index import SearchFilters

    found = []
    for row in rows:
        content_id = items.ids[row]
        vector = index.vector(content_id)
        result = index.search(vector, K, SearchFilters(exclude_content_ids=frozenset({content_id})))
        found.append(result.content_ids)
    return found


def exact_truth(items: Items, rows: np.ndarray) -> list[list[str]]:
    """The true k nearest other items of each query row (numpy/BLAS brute force)."""
    from content_signals.similarity.index import exact_neighbours

    found, _ = exact_neighbours(items.vectors, items.vectors[rows], K + 1)
    truth = []
    for row, neighbours in zip(rows, found, strict=True):
        truth.append([items.ids[r] for r in neighbours if r != row][:K])
    return truth


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / max(1, sum(len(t) for t in truth))


def in_process(index: Any, items: Items, rows: np.ndarray, qps_seconds: float) -> dict[str, Any]:
    """Latency of SimilarContent's in-process path (sequential, one thread), then its rate with 2
    threads for ``qps_seconds``."""
    from content_signals.similarity.index import SearchFilters

    def one(row: int) -> None:
        content_id = items.ids[row]
        index.search(index.vector(content_id), K, SearchFilters(exclude_content_ids=frozenset({content_id})))

    for row in rows[:50]:
        one(row)
    latencies = []
    for row in rows:
        t0 = time.perf_counter()
        one(row)
        latencies.append(time.perf_counter() - t0)
    done = [0, 0]
    stop_at = time.perf_counter() + qps_seconds

    def client(n: int) -> None:
        i = n
        while time.perf_counter() < stop_at:
            one(rows[i % len(rows)])
            done[n] += 1
            i += 2

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {**percentiles(latencies), "max_qps": round(sum(done) / (time.perf_counter() - started), 1)}


def exact_latency(items: Items, rows: np.ndarray, count: int, time_cap: float) -> dict[str, Any]:
    """Exact search one query at a time on one BLAS thread (the vectors in memory), then its rate
    with both cores on batches of queries is in the details: this is the single-query baseline."""
    latencies: list[float] = []
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        for row in rows[:count]:
            if time.perf_counter() - started > time_cap and len(latencies) >= 10:
                break
            t0 = time.perf_counter()
            scores = items.vectors @ items.vectors[row]
            scores[row] = -np.inf
            top = np.argpartition(-scores, K)[:K]
            _ = [items.ids[i] for i in top[np.argsort(-scores[top])]]
            latencies.append(time.perf_counter() - t0)
    result = percentiles(latencies)
    result["max_qps"] = round(len(latencies) / sum(latencies), 2) if latencies else 0.0
    result["max_qps_note"] = "one thread, sequential; 2 processes would roughly double it (memory-bound)"
    return result
