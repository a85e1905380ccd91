"""Feast's Redis online store: one hash per entity, every view's features and ``_ts:`` field in it.

Feast's SDK spends most of its time in Python objects (a ``ValueProto`` per value, a redis-py
pipeline building each command). Here:

* a write batch of ``HSET`` commands is laid out as RESP bytes in one Arrow buffer, column by
  column, and sent on a redis-py connection by a sender thread while the next batch is encoded:
  Redis itself is then the limit (its ``HSET`` of 15 fields costs it 5-10 us per key);
* a read is one ``HMGET`` per entity (all features of every view keyed by that entity, plus each
  view's ``_ts:`` field), laid out as RESP bytes in one buffer, written on a pooled asyncio
  connection and parsed by ``hiredis``: one round trip per entity kind.

As Feast: ``EXPIRE`` only when ``key_ttl_seconds`` is configured; with ``skip_if_not_newer`` a row
is skipped when the stored ``_ts`` is at least as new as the row's (unless ``skip_dedup``). Not
covered (a clear error instead): Redis cluster and sentinel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from content_signals.definitions import ENTITY_TIMESTAMP, SignalTable
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
from content_signals.feature_repo.online_stores.resp import (
    Sender,
    bulk,
    bulk_column,
    constant_bulk,
    data,
    merge_constants,
    pipeline,
)
from content_signals.storage_format import (
    encode_values,
    entity_key_list,
    entity_keys,
    epoch_micros,
    join_binary,
    redis_field,
    redis_timestamp_field,
    timestamp_nanos,
    timestamp_protos,
)


def parse_redis_connection_string(connection_string: str) -> tuple[str, int, dict[str, Any]]:
    """Host, port and redis-py keyword arguments, parsed as Feast's ``_parse_connection_string``."""
    nodes = [c for c in connection_string.split(",") if "=" not in c]
    if len(nodes) != 1:
        raise OnlineStoreError(f"expected one host:port in the Redis connection string {connection_string!r}")
    host, _, port = nodes[0].partition(":")
    kwargs: dict[str, Any] = {}
    for item in connection_string.split(","):
        if "=" in item:
            name, value = item.split("=", 1)
            try:
                kwargs[name] = json.loads(value)
            except json.JSONDecodeError:
                kwargs[name] = value
    return host, int(port or 6379), kwargs


class RedisOnlineStore(OnlineStore):
    """Feast's Redis layout for ``project``; reads go over a pool of ``connections`` asyncio
    connections, each read bounded by ``timeout_s``."""

    def __init__(
        self,
        connection_string: str,
        project: str,
        connections: int = 8,
        timeout_s: float = 1.0,
        *,
        key_ttl_seconds: int | None = None,
        skip_dedup: bool = False,
    ) -> None:
        import hiredis

        self._hiredis = hiredis
        self._host, self._port, self._options = parse_redis_connection_string(connection_string)
        self._password = self._options.get("password")
        self._db = int(self._options.get("db", 0))
        self._ssl = bool(self._options.get("ssl", False))
        self._project = project.encode()
        self._key_ttl_seconds = key_ttl_seconds
        self._skip_dedup = skip_dedup
        self._timeout_s = timeout_s
        self._connections = connections
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(connections)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ts_cache: dict[bytes, int] = {}
        self._fields: dict[tuple[tuple[str, tuple[str, ...]], ...], _Fields] = {}

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], project: str, connections: int = 8, timeout_s: float = 1.0
    ) -> RedisOnlineStore:
        """From Feast's ``online_store`` settings (``connection_string``, ``key_ttl_seconds``, ...)."""
        if settings.get("redis_type", "redis") != "redis":
            raise OnlineStoreError(
                f"redis_type {settings['redis_type']!r} is not supported (plain redis only)"
            )
        ttl = settings.get("key_ttl_seconds")
        return cls(
            settings.get("connection_string", "localhost:6379"),
            project,
            connections,
            timeout_s,
            key_ttl_seconds=int(ttl) if ttl else None,
            skip_dedup=bool(settings.get("skip_dedup", False)),
        )

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    def writer(self, table: SignalTable, skip_if_not_newer: bool) -> BatchWriter:
        import redis

        client = redis.Redis(host=self._host, port=self._port, **self._options)
        skip = skip_if_not_newer and not self._skip_dedup
        return _RedisWriter(client, self._project, table, skip, self._key_ttl_seconds)

    # --- reading ---

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self._host, self._port, ssl=self._ssl or None)
        setup: list[list[bytes]] = []
        if self._password:
            setup.append([b"AUTH", str(self._password).encode()])
        if self._db:
            setup.append([b"SELECT", str(self._db).encode()])
        if setup:
            await self._roundtrip(reader, writer, pipeline(setup), len(setup))
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
                chunk = await reader.read(1 << 18)
                if not chunk:
                    raise ConnectionError("connection closed by Redis")
                parser.feed(chunk)
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
                raise StoreUnavailable(
                    f"online store (Redis at {self.address}) unavailable: {reason}"
                ) from exc
            except BaseException:
                # Cancelled mid-reply (the caller's deadline): the connection's state is unknown.
                _close(connection)
                raise
            self._idle.append(connection)
            return replies

    async def read(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        shape = tuple((read.view, tuple(read.features)) for read in reads)
        fields = self._fields.get(shape)
        if fields is None:
            fields = self._fields[shape] = _hash_fields(reads)
        # Every HMGET asks for the same fields: their RESP bytes are built once and reused.
        head = b"*%d\r\n$5\r\nHMGET\r\n" % (fields.count + 2)
        keys = entity_key_list(join_key, entity_ids, self._project)
        buffer = [part for key in keys for part in (head, bulk(key), fields.resp)]
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
        fields += [redis_field(read.view, name) for name in read.features]
        fields.append(redis_timestamp_field(read.view))
    return _Fields(len(fields), b"".join(bulk(f) for f in fields))


class _RedisWriter(BatchWriter):
    """HSETs laid out as RESP bytes per batch; a sender thread ships one batch while the next is encoded.

    Redis executes the commands on its own core; the point is to keep it busy: while it works
    through batch N (sent, with its replies read, by the I/O thread, both of which release the
    GIL), this process encodes batch N+1.
    """

    def __init__(self, client: Any, project: bytes, table: SignalTable, skip: bool, ttl: int | None) -> None:
        self._client = client
        self._conn = client.connection_pool.get_connection()
        self._conn.connect()  # AUTH / SELECT done by redis-py before any raw traffic
        self._project = project
        self._table = table
        self._skip = skip
        self._ttl = str(ttl).encode() if ttl else None
        self._ts_field = redis_timestamp_field(table.name)
        self._fields = [redis_field(table.name, s.name) for s in table.signals]
        self._sender = Sender(self._send_and_check)

    # RESP: *<n>\r\n then $<len>\r\n<bytes>\r\n per argument.
    def _hset(self, keys: pa.Array, ts: pa.Array, values: list[pa.Array]) -> tuple[pa.Array, int]:
        n_args = 2 + 2 * (1 + len(values))
        # Field order as Feast's mapping: the timestamp first, then the features in view order.
        parts: list[pa.Array | bytes] = [f"*{n_args}\r\n$4\r\nHSET\r\n$".encode(), *bulk_column(keys)]
        parts += [constant_bulk(self._ts_field), *bulk_column(ts)]
        for field, value in zip(self._fields, values, strict=True):
            parts += [constant_bulk(field), *bulk_column(value)]
        parts[-1] = b"\r\n"
        commands = 1
        if self._ttl is not None:
            parts += [b"*3\r\n$6\r\nEXPIRE\r\n$", *bulk_column(keys), constant_bulk(self._ttl)]
            parts[-1] = parts[-1][:-1]  # type: ignore[index]
            commands = 2
        return join_binary(*merge_constants(parts)), commands

    def write(self, batch: pa.RecordBatch) -> int:
        table = self._table
        keys = join_binary(
            entity_keys(table.entity.join_key, batch.column(table.entity.join_key)), self._project
        )
        micros = epoch_micros(batch.column(ENTITY_TIMESTAMP))
        if self._skip:
            keep = self._newer_than_stored(keys, micros)
            if not keep.all():
                selection = pa.array(np.flatnonzero(keep))
                batch, keys, micros = batch.take(selection), keys.take(selection), micros[keep]
        if batch.num_rows == 0:
            return 0
        ts = timestamp_protos(micros)
        values = [encode_values(s.dtype, batch.column(s.name)) for s in table.signals]
        stream, per_row = self._hset(keys, ts, values)
        self._sender.submit(stream, batch.num_rows * per_row)
        return batch.num_rows

    def _newer_than_stored(self, keys: pa.Array, micros: np.ndarray) -> np.ndarray:
        """Which rows are newer than their stored ``_ts`` (read after every earlier batch landed)."""
        import redis

        parts: list[pa.Array | bytes] = [
            b"*3\r\n$5\r\nHMGET\r\n$",
            *bulk_column(keys),
            constant_bulk(self._ts_field),
        ]
        parts[-1] = parts[-1][:-1]  # type: ignore[index]
        stream = join_binary(*merge_constants(parts))
        self._sender.wait()
        self._conn.send_packed_command([data(stream)], check_health=False)
        stored: list[bytes | None] = []
        error: Exception | None = None
        for _ in range(len(keys)):
            try:
                stored.append(self._conn.read_response()[0])
            except redis.ResponseError as exc:  # keep reading: the connection must stay in step
                error = error or exc
                stored.append(None)
        if error is not None:
            raise OnlineStoreError(f"Redis refused a read: {error}") from error
        distinct = {s: timestamp_nanos(s) for s in set(stored) if s}
        stored_nanos = np.fromiter((distinct[s] if s else 0 for s in stored), np.int64, len(stored))
        # Feast skips a row when a stored (non-zero) timestamp is newer or the same instant.
        keep = (stored_nanos == 0) | (micros * 1_000 > stored_nanos)
        return dedupe_latest(keys, micros, keep)

    def _send_and_check(self, stream: pa.Array, replies: int) -> None:
        """Send a batch and consume its replies: one integer (or an error) per command.

        Reading them through redis-py costs a Python call per reply (a third of the run); integer
        replies need no parsing, so the raw socket's bytes are counted instead, and only an error
        reply (``-...``) is looked at.
        """
        self._conn.send_packed_command([data(stream)], check_health=False)
        sock = self._conn._sock
        if sock is None:
            raise ConnectionError("the Redis connection closed before a write")
        seen, failed = 0, bytearray()
        while seen < replies:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("Redis closed the connection during a write")
            seen += chunk.count(b"\n")
            if failed or b"-" in chunk:
                failed += chunk
        if failed:
            message = next(line for line in bytes(failed).split(b"\r\n") if line.startswith(b"-"))
            raise OnlineStoreError(f"Redis refused a write: {message[1:].decode(errors='replace')}")

    def flush(self) -> None:
        self._sender.wait()

    def close(self, failed: bool) -> None:
        self._sender.stop()
        if failed:  # replies may be left unread: the connection is out of step, drop it
            self._conn.disconnect()
        self._client.connection_pool.release(self._conn)
        self._client.close()
