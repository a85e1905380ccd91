"""Direct reads of Feast's online store: the request path's only I/O.

Feast's SDK spends most of a request in Python objects: one ``ValueProto`` per value, one
``EntityKey`` proto per entity, a redis-py pipeline building each command. Here a request becomes:

* Redis: one ``HMGET`` per entity (all features of every view keyed by that entity, plus each
  view's ``_ts:`` field), laid out as RESP bytes in one buffer, written on a pooled asyncio
  connection and parsed by ``hiredis``: one round trip per entity kind;
* SQLite (the embedded default): one indexed ``SELECT`` per view, in a worker thread.

Keys, hash fields and value bytes are Feast's own (see :mod:`feature_repo.online_write`, which
writes them), so this reads exactly what Feast's SDK reads; ``tests/test_online_read.py`` compares
the two. Decoding the values is :mod:`serving.decoding`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from content_signals.feature_repo.online_write import (
    parse_redis_connection_string,
    redis_field,
    timestamp_nanos,
)
from content_signals.serving.catalog import ViewSpec
from content_signals.serving.errors import Unavailable

_VALUE_TYPE_STRING = 2  # feast ValueType.STRING
MISSING = -1  # timestamp of an entity with no row for a view


def entity_key(join_key: str, entity_id: str) -> bytes:
    """Feast's ``serialize_entity_key`` (version 3) of one string join key."""
    name = join_key.encode()
    value = entity_id.encode()
    return (
        struct.pack("<III", 1, _VALUE_TYPE_STRING, len(name))
        + name
        + struct.pack("<II", _VALUE_TYPE_STRING, len(value))
        + value
    )


@dataclass(frozen=True)
class ViewRead:
    """Which features of one view to read."""

    view: ViewSpec
    features: list[str]


@dataclass
class ViewRows:
    """What the store holds for one view, for each requested entity (in request order).

    ``values[f][i]`` is the serialised ``ValueProto`` of feature ``f`` for entity ``i`` (None or
    b"" when absent); ``micros[i]`` is the row's event time in microseconds, or :data:`MISSING`.
    """

    values: list[list[bytes | None]]
    micros: np.ndarray


class OnlineStore(Protocol):
    async def read(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        """Rows of every view in ``reads`` (all keyed by ``join_key``) for ``entity_ids``."""
        ...

    async def close(self) -> None: ...


class RedisOnlineStore:
    """Feast's Redis layout, read over a small pool of asyncio connections."""

    def __init__(self, connection_string: str, project: str, connections: int, timeout_s: float) -> None:
        import hiredis

        self._hiredis = hiredis
        self._host, self._port, options = parse_redis_connection_string(connection_string)
        self._password = options.get("password")
        self._db = int(options.get("db", 0))
        self._ssl = bool(options.get("ssl", False))
        self._project = project.encode()
        self._timeout_s = timeout_s
        self._connections = connections
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(connections)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ts_cache: dict[bytes, int] = {}
        self._fields: dict[tuple[tuple[str, tuple[str, ...]], ...], _Fields] = {}

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self._host, self._port, ssl=self._ssl or None)
        setup: list[list[bytes]] = []
        if self._password:
            setup.append([b"AUTH", str(self._password).encode()])
        if self._db:
            setup.append([b"SELECT", str(self._db).encode()])
        if setup:
            await self._roundtrip(reader, writer, _resp(setup), len(setup))
        return reader, writer

    async def _roundtrip(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes, expected: int
    ) -> list[Any]:
        writer.write(payload)
        parser = self._hiredis.Reader()
        replies: list[Any] = []
        while len(replies) < expected:
            reply = parser.gets()
            if reply is False:
                data = await reader.read(1 << 18)
                if not data:
                    raise ConnectionError("connection closed by Redis")
                parser.feed(data)
                continue
            if isinstance(reply, self._hiredis.ReplyError):
                raise ConnectionError(f"Redis replied {reply}")
            replies.append(reply)
        return replies

    async def execute_raw(self, payload: bytes, replies_expected: int) -> list[Any]:
        """Send RESP ``payload`` on one pooled connection and read ``replies_expected`` replies."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._idle, self._slots, self._loop = [], asyncio.Semaphore(self._connections), loop
        async with self._slots:
            connection = self._idle.pop() if self._idle else None
            try:
                async with asyncio.timeout(self._timeout_s):
                    if connection is None:
                        connection = await self._connect()
                    replies = await self._roundtrip(*connection, payload, replies_expected)
            except (OSError, ConnectionError, TimeoutError) as exc:
                _close(connection)
                reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
                raise Unavailable(f"online store (Redis at {self.address}) unavailable: {reason}") from exc
            except BaseException:
                # Cancelled mid-reply (the caller's deadline): the connection's state is unknown.
                _close(connection)
                raise
            self._idle.append(connection)
            return replies

    async def read(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        shape = tuple((read.view.name, tuple(read.features)) for read in reads)
        fields = self._fields.get(shape)
        if fields is None:
            fields = self._fields[shape] = _hash_fields(reads)
        # Every HMGET asks for the same fields: their RESP bytes are built once and reused.
        head = b"*%d\r\n$5\r\nHMGET\r\n" % (fields.count + 2)
        buffer = [
            part
            for eid in entity_ids
            for part in (head, _bulk(entity_key(join_key, eid) + self._project), fields.resp)
        ]
        replies = await self.execute_raw(b"".join(buffer), len(entity_ids)) if entity_ids else []
        results: list[ViewRows] = []
        start = 0
        for read in reads:
            width = len(read.features)
            values = [[reply[start + f] for reply in replies] for f in range(width)]
            micros = np.fromiter(
                (self._micros(reply[start + width]) for reply in replies), dtype=np.int64, count=len(replies)
            )
            results.append(ViewRows(values, micros))
            start += width + 1
        return results

    def _micros(self, serialized: bytes | None) -> int:
        if not serialized:
            return MISSING
        cached = self._ts_cache.get(serialized)
        if cached is None:
            if len(self._ts_cache) > 100_000:
                self._ts_cache.clear()
            cached = self._ts_cache[serialized] = timestamp_nanos(serialized) // 1_000
        return cached

    async def close(self) -> None:
        while self._idle:
            _close(self._idle.pop())


def _close(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    if connection is not None:
        with contextlib.suppress(RuntimeError):  # its event loop may already be closed
            connection[1].close()


@dataclass(frozen=True)
class _Fields:
    count: int
    resp: bytes


def _hash_fields(reads: list[ViewRead]) -> _Fields:
    """The hash fields of ``reads`` (each view's features, then its ``_ts:`` field) as RESP bulks."""
    fields: list[bytes] = []
    for read in reads:
        fields += [redis_field(read.view.name, name) for name in read.features]
        fields.append(f"_ts:{read.view.name}".encode())
    return _Fields(len(fields), b"".join(_bulk(f) for f in fields))


def _bulk(argument: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(argument), argument)


def _resp(commands: list[list[bytes]]) -> bytes:
    """RESP arrays of bulk strings, the wire form of a pipeline."""
    return b"".join(b"*%d\r\n" % len(command) + b"".join(map(_bulk, command)) for command in commands)


class SqliteOnlineStore:
    """Feast's SQLite layout (one table per view, one row per entity x feature)."""

    def __init__(self, path: Path, project: str) -> None:
        self._path = path
        self._project = project
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if not self._path.exists():
                raise Unavailable(
                    f"online store (SQLite at {self._path}) does not exist: nothing published yet"
                )
            connection = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
            self._local.connection = connection
        return connection

    def _read_sync(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        keys = [entity_key(join_key, eid) for eid in entity_ids]
        position: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            position.setdefault(key, []).append(i)
        connection = self._connection()
        results = []
        for read in reads:
            column = {name: f for f, name in enumerate(read.features)}
            values: list[list[bytes | None]] = [[None] * len(keys) for _ in read.features]
            micros = np.full(len(keys), MISSING, dtype=np.int64)
            table = '"' + f"{self._project}_{read.view.name}".replace('"', '""') + '"'
            marks = ",".join("?" * len(position))
            try:
                query = f"SELECT entity_key, feature_name, value, event_ts FROM {table} WHERE entity_key IN "
                query += f"({marks})"
                rows = connection.execute(query, list(position)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    rows = []  # the view was never materialized: every entity is NOT_FOUND
                else:
                    raise Unavailable(f"online store (SQLite at {self._path}) unavailable: {exc}") from exc
            for key, name, value, event_ts in rows:
                f = column.get(name)
                targets = position[bytes(key)]
                stamp = _sqlite_micros(event_ts)
                for i in targets:
                    micros[i] = stamp
                    if f is not None:
                        values[f][i] = value
            results.append(ViewRows(values, micros))
        return results

    async def read(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        return await asyncio.to_thread(self._read_sync, join_key, entity_ids, reads)

    async def close(self) -> None:
        return None


def _sqlite_micros(event_ts: Any) -> int:
    """Feast stores naive-UTC datetimes through its epoch adapter (an int of seconds)."""
    if isinstance(event_ts, int | float):
        return int(event_ts * 1_000_000)
    text = event_ts.decode() if isinstance(event_ts, bytes) else str(event_ts)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)
