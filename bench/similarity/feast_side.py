"""The baseline: Feast 0.67's own vector search (``FeatureStore.retrieve_online_documents_v2``) on
its SQLite online store with ``vector_enabled: true`` (sqlite-vec 0.1.9).

What it takes on this platform (Python 3.11), found by reading ``feast/infra/online_stores/sqlite.py``:

* Feast loads sqlite-vec only on Python 3.10 (``sys.version_info[0:2] == (3, 10)`` in ``_get_conn``);
  this interpreter's ``sqlite3`` was built without ``enable_load_extension``; and its SQLite (the
  system's 3.40.1) is too old for Feast's KNN query: sqlite-vec honours ``LIMIT`` on a vec0 KNN only
  from SQLite 3.41 ("A LIMIT or 'k = ?' constraint is required on vec0 knn queries"). So the
  benchmark gives Feast's online store a connection of its own (:func:`vector_connection`:
  ``pysqlite3-binary``, SQLite 3.51, with sqlite-vec loaded) before its first query.
* Every ``retrieve_online_documents_v2`` call copies every stored vector into a ``vec0`` virtual
  table (``INSERT INTO vec_table SELECT rowid, vector_value FROM <table>``) and then runs an exact
  (brute-force) KNN over it. The table persists in the database file, so a second call fails with
  "UNIQUE constraint failed on vec_table primary key". The benchmark empties ``vec_table`` before
  each call (not timed); the copy itself is Feast's own work and is timed. Because of that shared
  table, two calls cannot run at once: concurrent clients take turns (a lock), which is Feast's
  maximum rate on one store.
* The feature view needs the vector field declared ``Field(dtype=Array(Float32), vector_index=True,
  vector_length=384, vector_search_metric="COSINE")`` and at least one other feature (the query
  returns the neighbours' other features and drops rows that have none). vec0's KNN uses its
  default L2 distance whatever the metric says; on unit vectors L2 ranks as cosine does.

Diagnostic (in the details): the sqlite-vec KNN query alone, on a ``vec0`` table filled once, i.e.
what Feast's design would cost without its per-query copy.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.similarity.common import DIM, K, percentiles, say

VIEW = "content_vectors"
VECTOR_FIELD = "text_embedding"
WRITE_CHUNK = 5_000


def vector_connection(path: Path) -> Any:
    """A connection to Feast's SQLite file that can run its vector search: pysqlite3 (a recent SQLite
    with extension loading) with sqlite-vec loaded, opened as Feast opens its own."""
    import pysqlite3.dbapi2 as sqlite
    import sqlite_vec

    conn = sqlite.connect(
        str(path), detect_types=sqlite.PARSE_DECLTYPES | sqlite.PARSE_COLNAMES, check_same_thread=False
    )
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


def open_store(folder: Path) -> tuple[Any, Any]:
    """A Feast store (registry file, SQLite online store with vector search) holding the view."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.types import Array, Float32, String
    from feast.value_type import ValueType

    folder.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="bench_similarity",
        provider="local",
        registry=str(folder / "registry.db"),
        online_store=SqliteOnlineStoreConfig(path=str(folder / "online.db"), vector_enabled=True),  # type: ignore[call-arg]
        entity_key_serialization_version=3,
        repo_path=folder,
    )
    store = FeatureStore(config=config)
    content = Entity(name="content", join_keys=["content_id"], value_type=ValueType.STRING)
    source_path = folder / "source.parquet"
    if not source_path.exists():
        pd.DataFrame(
            {
                "content_id": ["x"],
                VECTOR_FIELD: [[0.0] * DIM],
                "content_type": ["track"],
                "event_timestamp": [pd.Timestamp("2026-01-01", tz="UTC")],
            }
        ).to_parquet(source_path)
    view = FeatureView(
        name=VIEW,
        entities=[content],
        schema=[
            Field(
                name=VECTOR_FIELD,
                dtype=Array(Float32),
                vector_index=True,
                vector_length=DIM,
                vector_search_metric="COSINE",
            ),
            Field(name="content_type", dtype=String),
        ],
        source=FileSource(path=str(source_path), timestamp_field="event_timestamp"),
        online=True,
    )
    store.apply([content, view])
    online = store._get_provider().online_store  # type: ignore[attr-defined]
    conn = vector_connection(folder / "online.db")
    online._conn = conn  # type: ignore[attr-defined]  # Feast's _get_conn returns it from now on
    return store, conn


def write_vectors(store: Any, ids: list[str], types: list[str], vectors: np.ndarray) -> float:
    """``write_to_online_store`` in DataFrame chunks; returns the seconds it took."""
    stamp = pd.Timestamp("2026-01-07", tz="UTC")
    started = time.perf_counter()
    last = started
    for start in range(0, len(ids), WRITE_CHUNK):
        end = min(len(ids), start + WRITE_CHUNK)
        frame = pd.DataFrame(
            {
                "content_id": ids[start:end],
                VECTOR_FIELD: list(vectors[start:end]),
                "content_type": types[start:end],
                "event_timestamp": stamp,
            }
        )
        store.write_to_online_store(VIEW, frame)
        if time.perf_counter() - last > 15:
            last = time.perf_counter()
            rate = end / (last - started)
            say(f"    feast write: {end:,} of {len(ids):,} ({rate:,.0f} vectors/s)")
    return time.perf_counter() - started


def _reset(conn: Any) -> None:
    """Empty the vec0 table Feast's previous query filled (its next query refills it)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'vec_table'").fetchone()
    if exists:
        with conn:
            conn.execute("DELETE FROM vec_table")


def query(store: Any, conn: Any, vector: np.ndarray) -> list[str]:
    """One Feast vector search (top 10): the neighbours' content ids, best first."""
    response = store.retrieve_online_documents_v2(
        features=[f"{VIEW}:{VECTOR_FIELD}", f"{VIEW}:content_type"],
        query=vector.tolist(),
        top_k=K,
        distance_metric="COSINE",
    ).to_dict()
    ids: list[str] = response["content_id"]
    distances = response.get("distance", [0.0] * len(ids))
    return [i for _, i in sorted(zip(distances, ids, strict=True), key=lambda pair: pair[0])]


def measure_feast(
    folder: Path,
    ids: list[str],
    types: list[str],
    vectors: np.ndarray,
    queries: np.ndarray,
    latency_queries: int,
    time_cap: float,
    qps_seconds: float,
) -> dict[str, Any]:
    say(f"  feast: apply, then write {len(ids):,} vectors with write_to_online_store")
    store, conn = open_store(folder)
    write_s = write_vectors(store, ids, types, vectors)
    db_bytes = sum(p.stat().st_size for p in folder.glob("online.db*"))
    say(
        f"  feast: wrote {len(ids):,} vectors in {write_s:.1f} s ({len(ids) / write_s:,.0f}/s), "
        f"db {db_bytes / 2**20:,.0f} MiB"
    )

    found: list[list[str]] = []
    latencies: list[float] = []
    _reset(conn)
    query(store, conn, queries[0])  # warm-up
    started = time.perf_counter()
    for i in range(latency_queries):
        if time.perf_counter() - started > time_cap and len(latencies) >= 5:
            break
        _reset(conn)
        t0 = time.perf_counter()
        found.append(query(store, conn, queries[i % len(queries)]))
        latencies.append(time.perf_counter() - t0)
    say(f"  feast: {len(latencies)} sequential queries, p50 {np.median(latencies) * 1e3:,.1f} ms")

    # Maximum rate: 2 client threads, taking turns on the shared vec0 table.
    lock = threading.Lock()
    done = [0, 0]
    stop_at = time.perf_counter() + qps_seconds

    def client(index: int) -> None:
        i = index
        while time.perf_counter() < stop_at or sum(done) < 2:  # at least 2 calls, however slow
            with lock:
                _reset(conn)
                query(store, conn, queries[i % len(queries)])
            done[index] += 1
            i += 2

    qps_started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    qps = sum(done) / (time.perf_counter() - qps_started)

    # Diagnostic: sqlite-vec's KNN alone on a vec0 table filled once (no per-query copy).
    _reset(conn)
    with conn:
        conn.execute(
            "INSERT INTO vec_table (rowid, vector_value) SELECT rowid, vector_value "
            f'FROM "bench_similarity_{VIEW}" '
            "WHERE feature_name = ?",
            (VECTOR_FIELD,),
        )
    knn: list[float] = []
    for i in range(min(len(latencies), 50)):
        blob = queries[i % len(queries)].astype(np.float32).tobytes()
        t0 = time.perf_counter()
        conn.execute(
            "SELECT rowid, distance FROM vec_table WHERE vector_value MATCH ? ORDER BY distance LIMIT ?",
            (blob, K),
        ).fetchall()
        knn.append(time.perf_counter() - t0)
    return {
        "vectors": len(ids),
        "write_s": round(write_s, 2),
        "write_vectors_per_s": round(len(ids) / write_s, 1),
        "db_mib": round(db_bytes / 2**20, 1),
        **percentiles(latencies),
        "max_qps": round(qps, 3),
        "qps_queries": sum(done),
        "found": found,
        "knn_only": percentiles(knn),
    }
