"""Feast's SQLite online store (the embedded default): one table per view, one row per entity x feature.

Writes use Feast's own upsert statement, one ``executemany`` and one transaction per batch: SQLite's
three B-tree inserts per row x feature are the limit (``bench/bench_materialize.py``). Reads are one
indexed ``SELECT`` per view, in a worker thread on a read-only connection of that thread.

Not covered (a clear error instead): the vector and "openai-compatible" column layouts. The
``created_ts`` column is always written, as the repo's sources always name a created-timestamp column.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, SignalTable
from content_signals.feature_repo.online_stores.base import (
    MISSING,
    BatchWriter,
    OnlineStore,
    OnlineStoreError,
    StoreUnavailable,
    ViewRead,
    ViewRows,
    dedupe_latest,
)
from content_signals.storage_format import (
    encode_values,
    entity_key_list,
    entity_keys,
    epoch_micros,
    quote_identifier,
    sqlite_micros,
    sqlite_seconds,
    sqlite_table,
    value_texts,
)

# SQLite's historical limit on bound parameters per statement; safe on every build.
_SQLITE_MAX_PARAMS = 999


class SqliteOnlineStore(OnlineStore):
    """Feast's SQLite layout in the database file ``path``, for ``project``."""

    def __init__(self, path: Path, project: str) -> None:
        self._path = path
        self._project = project
        self._local = threading.local()

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], project: str, repo_path: Path | None = None
    ) -> SqliteOnlineStore:
        """From Feast's ``online_store`` settings; a relative ``path`` is resolved against
        ``repo_path`` (as Feast resolves it against the repo), else against the working directory."""
        unsupported = [k for k in ("vector_enabled", "enable_openai_compatible_store") if settings.get(k)]
        if unsupported:
            raise OnlineStoreError(f"SQLite online store options {unsupported} are not supported")
        path = Path(settings.get("path", "data/online.db"))
        if not path.is_absolute() and repo_path is not None:
            path = repo_path / path
        return cls(path, project)

    def writer(self, table: SignalTable, skip_if_not_newer: bool) -> BatchWriter:
        return _SqliteWriter(self._path, self._project, table, skip_if_not_newer)

    # --- reading ---

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if not self._path.exists():
                raise StoreUnavailable(
                    f"online store (SQLite at {self._path}) does not exist: nothing published yet"
                )
            connection = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
            self._local.connection = connection
        return connection

    def _read_sync(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        keys = entity_key_list(join_key, entity_ids)
        position: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            position.setdefault(key, []).append(i)
        connection = self._connection()
        results = []
        for read in reads:
            column = {name: f for f, name in enumerate(read.features)}
            values: list[list[bytes | None]] = [[None] * len(keys) for _ in read.features]
            micros = np.full(len(keys), MISSING, dtype=np.int64)
            table = sqlite_table(self._project, read.view)
            marks = ",".join("?" * len(position))
            try:
                query = f"SELECT entity_key, feature_name, value, event_ts FROM {table} WHERE entity_key IN "
                query += f"({marks})"
                rows = connection.execute(query, list(position)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    rows = []  # the view was never materialized: every entity is NOT_FOUND
                else:
                    raise StoreUnavailable(
                        f"online store (SQLite at {self._path}) unavailable: {exc}"
                    ) from exc
            for key, name, value, event_ts in rows:
                f = column.get(name)
                targets = position[bytes(key)]
                stamp = sqlite_micros(event_ts)
                for i in targets:
                    micros[i] = stamp
                    if f is not None:
                        values[f][i] = value
            results.append(ViewRows(values, micros))
        return results

    async def read(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        return await asyncio.to_thread(self._read_sync, join_key, entity_ids, reads)


class _SqliteWriter(BatchWriter):
    """Feast's own upsert statement, one ``executemany`` and one transaction per batch."""

    def __init__(self, path: Path, project: str, table: SignalTable, skip: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Default pragmas, as Feast's own connection: a bigger page cache or relaxed syncs measured
        # no faster here; SQLite's three B-tree inserts per row x feature are the floor.
        self._conn = sqlite3.connect(str(path))
        self._table = table
        self._skip = skip
        self._quoted = sqlite_table(project, table.name)
        self._create_table(quote_identifier(f"{project}_{table.name}_ek"))
        self._upsert = (
            f"INSERT INTO {self._quoted} (entity_key, feature_name, value, value_text, event_ts, created_ts) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
            "value = excluded.value, value_text = excluded.value_text, "
            "event_ts = excluded.event_ts, created_ts = excluded.created_ts;"
        )

    def _create_table(self, index: str) -> None:
        """What ``SqliteOnlineStore.update`` does for a kept table (no-op when it exists)."""
        quoted = self._quoted
        with self._conn:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {quoted} (entity_key BLOB, feature_name TEXT, value BLOB, "
                "value_text TEXT,  vector_value BLOB, event_ts timestamp, created_ts timestamp,  "
                "PRIMARY KEY(entity_key, feature_name))"
            )
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {quoted} (entity_key);")
            try:
                self._conn.execute(f"ALTER TABLE {quoted} ADD COLUMN {quote_identifier('value_text')} TEXT")
            except sqlite3.OperationalError as exc:
                if "duplicate column name" not in str(exc).lower():
                    raise

    def write(self, batch: pa.RecordBatch) -> int:
        table = self._table
        keys = entity_keys(table.entity.join_key, batch.column(table.entity.join_key))
        seconds = sqlite_seconds(epoch_micros(batch.column(ENTITY_TIMESTAMP)))
        if self._skip:
            keep = self._newer_than_stored(keys, seconds)
            keep = dedupe_latest(keys, seconds, keep)
            if not keep.all():
                selection = pa.array(np.flatnonzero(keep))
                batch, keys, seconds = batch.take(selection), keys.take(selection), seconds[keep]
        n = batch.num_rows
        if n == 0:
            return 0
        created = sqlite_seconds(epoch_micros(batch.column(CREATED_TIMESTAMP))).tolist()
        key_bytes = keys.to_pylist()
        columns = []
        for s in table.signals:
            column = batch.column(s.name)
            columns.append((encode_values(s.dtype, column).to_pylist(), value_texts(s.dtype, column)))
        # Row-major, features in view order: the order (and so the rowids) Feast's loop produces.
        event = seconds.tolist()
        per_feature = [
            zip(key_bytes, itertools.repeat(s.name), values, texts, event, created)
            for s, (values, texts) in zip(table.signals, columns, strict=True)
        ]
        rows = itertools.chain.from_iterable(zip(*per_feature, strict=True))
        with self._conn:
            self._conn.executemany(self._upsert, rows)
        return n

    def _newer_than_stored(self, keys: pa.Array, seconds: np.ndarray) -> np.ndarray:
        """Rows whose event time is later than the one stored for their entity (or none stored)."""
        key_bytes = keys.to_pylist()
        stored: dict[bytes, int] = {}
        for start in range(0, len(key_bytes), _SQLITE_MAX_PARAMS):
            chunk = key_bytes[start : start + _SQLITE_MAX_PARAMS]
            rows = self._conn.execute(
                f"SELECT entity_key, MAX(event_ts) FROM {self._quoted} "
                f"WHERE entity_key IN ({','.join('?' * len(chunk))}) GROUP BY entity_key",
                chunk,
            )
            stored.update((k, int(ts)) for k, ts in rows if ts is not None)
        if not stored:
            return np.ones(len(key_bytes), bool)
        never = np.iinfo(np.int64).min
        previous = np.fromiter((stored.get(k, never) for k in key_bytes), np.int64, len(key_bytes))
        return seconds > previous  # type: ignore[no-any-return]

    def close(self, failed: bool) -> None:
        self._conn.close()
