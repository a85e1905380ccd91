"""Write a validated signal partition into Feast's online store, in Feast's own format, fast.

Feast's ``materialize`` turns every value into a protobuf object and every row into one Redis
``HSET`` built by redis-py (or one SQLite ``execute`` per row x feature): about 9,000 rows/s into
Redis on a 2-core machine. A daily partition of a million items then takes minutes, most of it in
Python object churn, not in the store. This module writes the same bytes column by column:

* the Parquet partition is read in bounded record batches (never the whole partition);
* entity keys, ``ValueProto`` encodings and timestamps are built with numpy / pyarrow compute
  over whole columns, one call per column, not one per row x feature;
* into Redis, a whole batch of ``HSET`` commands is laid out as RESP bytes in one Arrow buffer
  and sent on a redis-py connection while the next batch is being encoded;
* into SQLite, one ``executemany`` per batch in one transaction, with Feast's exact statement.

The storage is byte-identical to what Feast 0.67 writes (see ``tests/test_online_write.py``,
which compares raw stored bytes and ``FeatureStore.get_online_features`` results against Feast's
own write path), so Feast's SDK and ``feast serve`` read these values unchanged. The format
details, with their place in Feast 0.67's source, are:

* entity key: ``feast/infra/key_encoding_utils.py`` ``serialize_entity_key`` (version 3): ``<I``
  number of keys, then per key ``<I`` ValueType.STRING (2), ``<I`` length, the UTF-8 name, then
  per value ``<I`` value type, ``<I`` length, the UTF-8 value;
* values: ``feast/type_map.py`` ``_convert_scalar_values_to_proto``: a null (or a NaN, which
  ``pd.isnull`` also catches) becomes an empty ``ValueProto``, serialised as zero bytes; otherwise
  ``int64_val`` (field 4, varint), ``double_val`` (field 5, 8 bytes little-endian), ``bool_val``
  (field 7, varint) or ``string_val`` (field 2, length-delimited), always emitted because they
  sit in a ``oneof``;
* Redis (``feast/infra/online_stores/redis.py`` ``online_write_batch``): hash key = serialised
  entity key + project name (``helpers._redis_key``); one field per feature, named by the
  little-endian 4-byte murmur3_32 of ``"<view>:<feature>"`` (``helpers._mmh3``); field
  ``_ts:<view>`` holds a serialised ``google.protobuf.Timestamp`` of the event time; ``EXPIRE``
  only when ``key_ttl_seconds`` is configured; a row is skipped when the stored ``_ts`` is at
  least as new as the row's (unless ``skip_dedup``);
* SQLite (``feast/infra/online_stores/sqlite.py``): table ``<project>_<view>``, one row per
  entity x feature, ``INSERT ... ON CONFLICT(entity_key, feature_name) DO UPDATE`` with no
  timestamp check, ``value_text`` from ``helpers.extract_text_and_num`` (``str()`` of the value;
  none for a vector),
  and timestamps stored as ``int(naive_utc_datetime.timestamp())`` by the ``datetime`` adapter
  Feast registers last (``adapt_datetime_epoch``).

Not covered (a clear error instead): Redis cluster / sentinel, the SQLite vector and
"openai-compatible" column layouts, and online feature-view versioning (names carry no ``_vN``).
SQLite's ``created_ts`` is always written, as the repo's sources always name a created-timestamp
column. One deliberate difference: Feast reads an integer column that holds nulls as float64
(``pyarrow``'s ``to_numpy``), so it rounds values beyond 2**53 in such batches; we store them exactly.

Measured (``bench/bench_materialize.py``, 2 cores): into Redis, Redis itself is the limit (its
``HSET`` of 15 fields costs it 5-10 us per key, more for new keys than for overwrites), so the
sender thread keeps it busy while this process encodes the next batch; into SQLite, its three
B-tree inserts per row x feature are the limit.
"""

from __future__ import annotations

import itertools
import json
import queue
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from google.protobuf.timestamp_pb2 import Timestamp

from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, DType, SignalTable
from content_signals.errors import SignalsError

__all__ = ["OnlineWriteResult", "PartitionError", "write_partition"]

# feast.protos.feast.types.Value_pb2.ValueType.STRING
_VALUE_TYPE_STRING = 2
# Wire-format tags (field number << 3 | wire type) of feast.types.Value's oneof members.
_TAG_STRING = 0x12  # string_val = 2, length-delimited
_TAG_INT64 = 0x20  # int64_val = 4, varint
_TAG_DOUBLE = 0x29  # double_val = 5, 64-bit
_TAG_BOOL = 0x38  # bool_val = 7, varint
_TAG_FLOAT_LIST = b"\x82\x01"  # float_list_val = 16, length-delimited (a two-byte tag)
_TAG_PACKED_FLOATS = 0x0A  # FloatList.val = 1, packed
_EPOCH = datetime(1970, 1, 1)
# SQLite's historical limit on bound parameters per statement; safe on every build.
_SQLITE_MAX_PARAMS = 999
_REPORT_EVERY_S = 2.0


class PartitionError(SignalsError):
    """The partition cannot be written as it is (missing column, wrong type, null key...)."""


@dataclass(frozen=True)
class OnlineWriteResult:
    """What one ``write_partition`` call did."""

    rows: int  # rows written to the online store
    seconds: float  # wall time of the whole call, validation included
    rows_read: int = 0  # rows in the partition
    skipped: int = 0  # rows not written because the store already held a value at least as new


def write_partition(
    online_store: dict[str, Any],
    project: str,
    table: SignalTable,
    partition_dir: Path,
    *,
    batch_rows: int = 50_000,
    skip_if_not_newer: bool = False,
    progress: Callable[[str], None] = lambda _l: None,
    repo_path: Path | None = None,
) -> OnlineWriteResult:
    """Write every row of one partition of ``table`` into the online store of ``project``.

    ``online_store`` is the dict Feast's ``RepoConfig`` gets. With ``skip_if_not_newer`` an entity
    whose stored event timestamp is at least as new as the row's keeps its stored values (Feast's
    own rule); without it rows are written unconditionally, which is right (and saves a read round
    trip per batch) when the partition is newer than everything published. The whole partition's
    schema and key columns are checked before anything is written, so a bad partition writes
    nothing. A relative SQLite ``path`` is resolved against ``repo_path`` (as Feast resolves it
    against the repo), else against the working directory.
    """
    started = time.perf_counter()
    if batch_rows <= 0:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")
    files = _check_partition(table, partition_dir)
    total = _check_key_columns(table, files, batch_rows)
    batches = _read_batches(table, files, batch_rows)
    store_type = online_store.get("type", "sqlite")
    writer: _Writer
    if store_type == "redis":
        writer = _RedisWriter(online_store, project, table, skip_if_not_newer)
    elif store_type in ("sqlite", "feast.infra.online_stores.sqlite.SqliteOnlineStore"):
        writer = _SqliteWriter(online_store, project, table, skip_if_not_newer, repo_path)
    else:
        raise PartitionError(f"online store type {store_type!r} is not supported (sqlite or redis)")
    meter = _Meter(total, started, progress)
    with writer:
        for batch in batches:
            written = writer.write(batch)
            meter.add(batch.num_rows, written)
        writer.flush()
    meter.done()
    return OnlineWriteResult(
        rows=meter.written,
        seconds=time.perf_counter() - started,
        rows_read=meter.read,
        skipped=meter.read - meter.written,
    )


# --- reading and checking the partition ------------------------------------------------------


def _is_int64_compatible(t: pa.DataType) -> bool:
    # Feast converts any integer column with int(); unsigned 64-bit values may not fit in int64.
    return pa.types.is_signed_integer(t) or t in (pa.uint8(), pa.uint16(), pa.uint32())


_TYPE_CHECKS: dict[DType, tuple[Callable[[pa.DataType], bool], str]] = {
    "int64": (_is_int64_compatible, "an integer"),
    # Feast's DOUBLE conversion asserts float / np.float64 values: float32 columns fail there too.
    "double": (pa.types.is_float64, "float64 (double)"),
    "string": (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "a string"),
    "bool": (pa.types.is_boolean, "a boolean"),
    # Feast's FLOAT_LIST conversion takes any float list; float32 is what Spark writes for it.
    "float_vector": (
        lambda t: pa.types.is_list(t) and pa.types.is_floating(t.value_type),
        "a list of floats",
    ),
}


def _check_partition(table: SignalTable, partition_dir: Path) -> list[str]:
    """The partition's Parquet files, after checking every file's schema against the table."""
    if not partition_dir.is_dir():
        raise PartitionError(f"{table.name}: partition {partition_dir} is not a directory")
    # pyarrow.dataset skips Spark's _SUCCESS, .crc and other hidden/underscore files.
    files = sorted(ds.dataset(partition_dir, format="parquet").files)
    if not files:
        raise PartitionError(f"{table.name}: partition {partition_dir} holds no Parquet files")
    for path in files:
        problems = _schema_problems(table, pq.read_schema(path))
        if problems:
            raise PartitionError(
                f"{table.name}: {Path(path).name} in {partition_dir} does not match the table: "
                + "; ".join(problems)
            )
    return files


def _schema_problems(table: SignalTable, schema: pa.Schema) -> list[str]:
    problems: list[str] = []
    wanted: list[tuple[str, Callable[[pa.DataType], bool], str]] = [
        (table.entity.join_key, _TYPE_CHECKS["string"][0], "a string"),
        (ENTITY_TIMESTAMP, pa.types.is_timestamp, "a timestamp"),
        (CREATED_TIMESTAMP, pa.types.is_timestamp, "a timestamp"),
    ]
    for signal in table.signals:
        ok, description = _TYPE_CHECKS[signal.dtype]
        wanted.append((signal.name, ok, f"{description} for a {signal.dtype} signal"))
    for column, ok, description in wanted:
        index = schema.get_field_index(column)
        if index < 0:
            problems.append(f"column {column!r} is missing")
        elif not ok(schema.field(index).type):
            problems.append(f"column {column!r} is {schema.field(index).type}, expected {description}")
    return problems


def _check_key_columns(table: SignalTable, files: Sequence[str], batch_rows: int) -> int:
    """Row count, after checking that no key or timestamp is null anywhere in the partition.

    Reading three columns first is cheap (Parquet is columnar) and means a bad row late in the
    partition cannot leave the store half-written.
    """
    columns = list(table.key_columns)
    rows = 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns):
            for name in columns:
                nulls = batch.column(name).null_count
                if nulls:
                    raise PartitionError(
                        f"{table.name}: {Path(path).name} has {nulls} null value(s) in key column {name!r}"
                    )
            rows += batch.num_rows
    return rows


def _read_batches(table: SignalTable, files: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    columns = [*table.key_columns, *table.signal_names]
    for path in files:
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns)


def _epoch_micros(column: pa.Array) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a non-null timestamp column, whatever its zone.

    Feast goes through Python datetimes, which hold microseconds: nanoseconds are dropped.
    """
    values = column.view(pa.int64()).to_numpy()
    unit = column.type.unit
    if unit == "ns":
        return values // 1_000  # type: ignore[no-any-return]
    return values * {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]  # type: ignore[no-any-return]


# --- vectorised encodings ----------------------------------------------------------------------


def _varint(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf base-128 varints of uint64 ``values``: an (n, 10) byte matrix and the lengths."""
    v = values.astype(np.uint64, copy=True)
    out = np.empty((len(v), 10), np.uint8)
    lengths = np.ones(len(v), np.int64)
    for i in range(10):
        low = (v & np.uint64(0x7F)).astype(np.uint8)
        v >>= np.uint64(7)
        more = v != 0
        out[:, i] = low | (more.astype(np.uint8) << 7)
        lengths += more
    return out, lengths


def _binary(matrix: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """A binary array whose row i is ``matrix[i, :lengths[i]]``, built without a Python loop."""
    n, width = matrix.shape
    data = np.ascontiguousarray(matrix)[np.arange(width) < lengths[:, None]]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _u32le(values: np.ndarray) -> pa.Array:
    """Each value as 4 little-endian bytes (``struct.pack("<I", v)``), as a binary array."""
    matrix = values.astype("<u4").view(np.uint8).reshape(-1, 4)
    return _binary(matrix, np.full(len(values), 4, np.int64))


def _join(*parts: pa.Array | bytes) -> pa.Array:
    """Row-wise concatenation of binary arrays and constant byte strings."""
    args = [pa.scalar(p, pa.binary()) if isinstance(p, bytes) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar(b"", pa.binary()))


def _as_binary(column: pa.Array) -> pa.Array:
    return column.cast(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())


def entity_keys(join_key: str, ids: pa.Array) -> pa.Array:
    """``serialize_entity_key(EntityKey(join_keys=[join_key], entity_values=[string_val]), 3)``."""
    name = join_key.encode("utf-8")
    prefix = struct.pack("<III", 1, _VALUE_TYPE_STRING, len(name)) + name
    prefix += struct.pack("<I", _VALUE_TYPE_STRING)
    values = _as_binary(ids)
    return _join(prefix, _u32le(pc.binary_length(values).to_numpy()), values)


def encode_values(dtype: DType, column: pa.Array) -> pa.Array:
    """``python_values_to_proto_values(column.to_numpy(), <type>)[i].SerializeToString()``.

    A null (and, for doubles, a NaN) is an empty ValueProto: zero bytes.
    """
    n = len(column)
    invalid = column.is_null().to_numpy(zero_copy_only=False)
    if dtype == "string":
        values = _as_binary(column).fill_null(b"")
        matrix = np.empty((n, 11), np.uint8)
        matrix[:, 0] = _TAG_STRING
        matrix[:, 1:], lengths = _varint(pc.binary_length(values).to_numpy())
        lengths = np.where(invalid, 0, lengths + 1)
        return _join(_binary(matrix, lengths), values)
    if dtype == "int64":
        ints = column.cast(pa.int64()).fill_null(0).to_numpy()
        matrix = np.empty((n, 11), np.uint8)
        matrix[:, 0] = _TAG_INT64
        matrix[:, 1:], lengths = _varint(ints.view(np.uint64))
        return _binary(matrix, np.where(invalid, 0, lengths + 1))
    if dtype == "double":
        floats = column.to_numpy(zero_copy_only=False).astype("<f8", copy=False)  # null -> NaN
        matrix = np.empty((n, 9), np.uint8)
        matrix[:, 0] = _TAG_DOUBLE
        matrix[:, 1:] = floats.view(np.uint8).reshape(n, 8)
        return _binary(matrix, np.where(np.isnan(floats), 0, 9))
    if dtype == "bool":
        flags = column.fill_null(False).to_numpy(zero_copy_only=False)
        matrix = np.empty((n, 2), np.uint8)
        matrix[:, 0] = _TAG_BOOL
        matrix[:, 1] = flags
        return _binary(matrix, np.where(invalid, 0, 2))
    if dtype == "float_vector":
        return _float_lists(column, invalid)
    raise PartitionError(f"unsupported dtype {dtype!r}")


def _float_lists(column: pa.Array, invalid: np.ndarray) -> pa.Array:
    """``Value(float_list_val=FloatList(val=v))`` per row: the two-byte tag, the outer length, and
    a packed FloatList (tag, byte length, little-endian float32s) that is empty for an empty list."""
    lists = column.cast(pa.list_(pa.float32()))
    counts = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    floats = lists.flatten().to_numpy(zero_copy_only=False).astype("<f4", copy=False)
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts * 4, out=offsets[1:])
    data = pa.Array.from_buffers(
        pa.binary(), len(counts), [None, pa.py_buffer(offsets), pa.py_buffer(floats.tobytes())]
    )
    inner_prefix = np.empty((len(counts), 11), np.uint8)
    inner_prefix[:, 0] = _TAG_PACKED_FLOATS
    inner_prefix[:, 1:], varint_lengths = _varint((counts * 4).astype(np.uint64))
    inner_lengths = np.where(counts > 0, 1 + varint_lengths, 0)
    outer = np.empty((len(counts), 10), np.uint8)
    outer[:], outer_lengths = _varint((inner_lengths + counts * 4).astype(np.uint64))
    prefix = _join(pa.scalar(_TAG_FLOAT_LIST, pa.binary()), _binary(outer, outer_lengths))  # type: ignore[arg-type]
    encoded = _join(prefix, _binary(inner_prefix, inner_lengths), data)
    # A null vector is an empty ValueProto: zero bytes.
    return pc.if_else(pa.array(invalid), pa.scalar(b"", pa.binary()), encoded)


def value_texts(dtype: DType, column: pa.Array) -> list[str | None]:
    """SQLite's ``value_text``: ``str()`` of the Python value (``helpers.extract_text_and_num``)."""
    if dtype == "string":
        return column.to_pylist()  # type: ignore[no-any-return]
    if dtype == "double":
        # Arrow formats floats differently from Python ("1" vs "1.0", "0.00001" vs "1e-05").
        floats = column.to_numpy(zero_copy_only=False)
        texts: list[str | None] = list(map(repr, floats.tolist()))
        for i in np.flatnonzero(np.isnan(floats)).tolist():
            texts[i] = None
        return texts
    if dtype == "int64":
        return column.cast(pa.int64()).cast(pa.string()).to_pylist()  # type: ignore[no-any-return]
    if dtype == "bool":
        flags = column.to_numpy(zero_copy_only=False)
        return [None if f is None else ("True" if f else "False") for f in flags.tolist()]
    if dtype == "float_vector":
        return [None] * len(column)  # extract_text_and_num gives lists no text
    raise PartitionError(f"unsupported dtype {dtype!r}")


def _murmur3_32(data: bytes) -> int:
    """murmur3 x86_32 with seed 0: what ``mmh3.hash(key, signed=False)`` returns."""
    mask = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    c1, c2, h, n = 0xCC9E2D51, 0x1B873593, 0, len(data)
    body = n - n % 4
    for i in range(0, body, 4):
        k = rotl((int.from_bytes(data[i : i + 4], "little") * c1) & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    if n % 4:
        k = int.from_bytes(data[body:], "little")
        h ^= rotl((k * c1) & mask, 15) * c2 & mask
    h ^= n
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & mask
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def redis_field(view: str, feature: str) -> bytes:
    """Feast's hash field name for a feature: ``helpers._mmh3(f"{view}:{feature}")``."""
    return struct.pack("<I", _murmur3_32(f"{view}:{feature}".encode()))


# --- writers -----------------------------------------------------------------------------------


class _Writer:
    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(failed=exc_type is not None)

    def write(self, batch: pa.RecordBatch) -> int:
        raise NotImplementedError

    def flush(self) -> None:
        """Wait until every batch handed to ``write`` is stored."""

    def close(self, failed: bool) -> None:
        """Release the connection (``failed``: an exception is on its way out)."""


def _dedupe_latest(keys: pa.Array, micros: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Of the rows in ``keep``, per key only the first row holding the key's latest timestamp.

    That is what Feast's sequential rule leaves in the store when one batch holds an entity twice.
    """
    candidates = np.flatnonzero(keep)
    if len(candidates) == 0:
        return keep
    codes = pc.dictionary_encode(keys.take(pa.array(candidates))).indices.to_numpy()
    if len(np.unique(codes)) == len(codes):
        return keep
    order = np.lexsort((candidates, -micros[candidates], codes))
    first = np.ones(len(order), bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    result = np.zeros_like(keep)
    result[candidates[order[first]]] = True
    return result


def _unique_map(micros: np.ndarray, convert: Callable[[int], Any]) -> tuple[list[Any], np.ndarray]:
    """``convert`` applied once per distinct timestamp (a partition holds very few of them)."""
    unique, inverse = np.unique(micros, return_inverse=True)
    return [convert(int(u)) for u in unique.tolist()], inverse


def _naive_utc(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _timestamp_proto(micros: int) -> bytes:
    """``Timestamp.FromDatetime(make_tzaware(ts)).SerializeToString()``, as Feast stores ``_ts``."""
    proto = Timestamp()
    proto.FromDatetime(_naive_utc(micros).replace(tzinfo=UTC))
    return proto.SerializeToString()  # type: ignore[no-any-return]


def timestamp_nanos(serialized: bytes) -> int:
    """Nanoseconds of a serialised ``google.protobuf.Timestamp`` (a ``_ts:`` field)."""
    proto = Timestamp()
    proto.ParseFromString(serialized)
    return int(proto.seconds) * 1_000_000_000 + int(proto.nanos)


class _RedisWriter(_Writer):
    """HSETs laid out as RESP bytes per batch; a sender thread ships one batch while the next is encoded.

    Redis executes the commands on its own core; the point is to keep it busy: while it works
    through batch N (sent, with its replies read, by the I/O thread, both of which release the
    GIL), this process encodes batch N+1.
    """

    def __init__(self, settings: dict[str, Any], project: str, table: SignalTable, skip: bool) -> None:
        import redis

        if settings.get("redis_type", "redis") != "redis":
            raise PartitionError(f"redis_type {settings['redis_type']!r} is not supported (plain redis only)")
        connection_string = settings.get("connection_string", "localhost:6379")
        host, port, kwargs = parse_redis_connection_string(connection_string)
        self._client = redis.Redis(host=host, port=port, **kwargs)
        self._conn = self._client.connection_pool.get_connection()
        self._conn.connect()  # AUTH / SELECT done by redis-py before any raw traffic
        self._project = project.encode("utf-8")
        self._table = table
        self._skip = skip and not settings.get("skip_dedup", False)
        ttl = settings.get("key_ttl_seconds")
        self._ttl = str(int(ttl)).encode() if ttl else None
        self._ts_field = f"_ts:{table.name}".encode()
        self._fields = [redis_field(table.name, s.name) for s in table.signals]
        self._sender = _Sender(self._send_and_check)

    # RESP: *<n>\r\n then $<len>\r\n<bytes>\r\n per argument.
    def _hset(self, keys: pa.Array, ts: pa.Array, values: list[pa.Array]) -> tuple[pa.Array, int]:
        n_args = 2 + 2 * (1 + len(values))
        # Field order as Feast's mapping: the timestamp first, then the features in view order.
        parts: list[pa.Array | bytes] = [f"*{n_args}\r\n$4\r\nHSET\r\n$".encode(), *_bulk(keys)]
        parts += [_constant_bulk(self._ts_field), *_bulk(ts)]
        for field, value in zip(self._fields, values, strict=True):
            parts += [_constant_bulk(field), *_bulk(value)]
        parts[-1] = b"\r\n"
        commands = 1
        if self._ttl is not None:
            parts += [b"*3\r\n$6\r\nEXPIRE\r\n$", *_bulk(keys), _constant_bulk(self._ttl)]
            parts[-1] = parts[-1][:-1]  # type: ignore[index]
            commands = 2
        return _join(*_merge_constants(parts)), commands

    def write(self, batch: pa.RecordBatch) -> int:
        table = self._table
        keys = _join(entity_keys(table.entity.join_key, batch.column(table.entity.join_key)), self._project)
        micros = _epoch_micros(batch.column(ENTITY_TIMESTAMP))
        if self._skip:
            keep = self._newer_than_stored(keys, micros)
            if not keep.all():
                selection = pa.array(np.flatnonzero(keep))
                batch, keys, micros = batch.take(selection), keys.take(selection), micros[keep]
        if batch.num_rows == 0:
            return 0
        encoded, inverse = _unique_map(micros, _timestamp_proto)
        ts = pa.array(encoded, pa.binary()).take(pa.array(inverse))
        values = [encode_values(s.dtype, batch.column(s.name)) for s in table.signals]
        stream, per_row = self._hset(keys, ts, values)
        self._sender.submit(stream, batch.num_rows * per_row)
        return batch.num_rows

    def _newer_than_stored(self, keys: pa.Array, micros: np.ndarray) -> np.ndarray:
        """Which rows are newer than their stored ``_ts`` (read after every earlier batch landed)."""
        import redis

        field = self._ts_field
        parts: list[pa.Array | bytes] = [b"*3\r\n$5\r\nHMGET\r\n$", *_bulk(keys), _constant_bulk(field)]
        parts[-1] = parts[-1][:-1]  # type: ignore[index]
        stream = _join(*_merge_constants(parts))
        self._sender.wait()
        self._conn.send_packed_command([_data(stream)], check_health=False)
        stored: list[bytes | None] = []
        error: Exception | None = None
        for _ in range(len(keys)):
            try:
                stored.append(self._conn.read_response()[0])
            except redis.ResponseError as exc:  # keep reading: the connection must stay in step
                error = error or exc
                stored.append(None)
        if error is not None:
            raise PartitionError(f"Redis refused a read: {error}") from error
        distinct = {s: timestamp_nanos(s) for s in set(stored) if s}
        stored_nanos = np.fromiter((distinct[s] if s else 0 for s in stored), np.int64, len(stored))
        # Feast skips a row when a stored (non-zero) timestamp is newer or the same instant.
        keep = (stored_nanos == 0) | (micros * 1_000 > stored_nanos)
        return _dedupe_latest(keys, micros, keep)

    def _send_and_check(self, stream: pa.Array, replies: int) -> None:
        """Send a batch and consume its replies: one integer (or an error) per command.

        Reading them through redis-py costs a Python call per reply (a third of the run); integer
        replies need no parsing, so the raw socket's bytes are counted instead, and only an error
        reply (``-...``) is looked at.
        """
        self._conn.send_packed_command([_data(stream)], check_health=False)
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
            raise PartitionError(f"Redis refused a write: {message[1:].decode(errors='replace')}")

    def flush(self) -> None:
        self._sender.wait()

    def close(self, failed: bool) -> None:
        self._sender.stop()
        if failed:  # replies may be left unread: the connection is out of step, drop it
            self._conn.disconnect()
        self._client.connection_pool.release(self._conn)
        self._client.close()


class _Sender:
    """One background thread running ``work(stream, replies)`` per batch, in order, one batch ahead.

    ``submit`` blocks while a batch is still queued, so at most three batches exist at once (one
    being encoded, one queued, one on the wire); an error in the thread surfaces on the next call.
    """

    def __init__(self, work: Callable[[pa.Array, int], None]) -> None:
        self._work = work
        self._queue: queue.Queue[tuple[pa.Array, int] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="online-write-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is not None and self._error is None:
                    self._work(*item)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()
            if item is None:
                return

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, stream: pa.Array, replies: int) -> None:
        self._raise()
        self._queue.put((stream, replies))

    def wait(self) -> None:
        self._queue.join()
        self._raise()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


def _data(stream: pa.Array) -> memoryview:
    """A binary array's bytes, back to back: the batch's commands, sent as they are (no copy)."""
    _, offsets, data = stream.buffers()
    first, last = np.frombuffer(offsets, np.int32)[[stream.offset, stream.offset + len(stream)]].tolist()
    return memoryview(data)[first:last]


def _constant_bulk(value: bytes) -> bytes:
    """A constant argument, after a ``$``; ends with ``$`` for the next argument."""
    return b"%d\r\n%s\r\n$" % (len(value), value)


def _bulk(values: pa.Array) -> list[pa.Array | bytes]:
    """A RESP bulk string per row, after the ``$`` the preceding constant ends with."""
    lengths = pc.binary_length(values).cast(pa.string()).cast(pa.binary())
    return [lengths, b"\r\n", values, b"\r\n$"]


def _merge_constants(parts: list[pa.Array | bytes]) -> list[pa.Array | bytes]:
    merged: list[pa.Array | bytes] = []
    for part in parts:
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def parse_redis_connection_string(connection_string: str) -> tuple[str, int, dict[str, Any]]:
    """Host, port and redis-py keyword arguments, parsed as Feast's ``_parse_connection_string``."""
    nodes = [c for c in connection_string.split(",") if "=" not in c]
    if len(nodes) != 1:
        raise PartitionError(f"expected one host:port in the Redis connection string {connection_string!r}")
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


class _SqliteWriter(_Writer):
    """Feast's own upsert statement, one ``executemany`` and one transaction per batch."""

    def __init__(
        self,
        settings: dict[str, Any],
        project: str,
        table: SignalTable,
        skip: bool,
        repo_path: Path | None,
    ) -> None:
        unsupported = [k for k in ("vector_enabled", "enable_openai_compatible_store") if settings.get(k)]
        if unsupported:
            raise PartitionError(f"SQLite online store options {unsupported} are not supported")
        path = Path(settings.get("path", "data/online.db"))
        if not path.is_absolute() and repo_path is not None:
            path = repo_path / path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Default pragmas, as Feast's own connection: a bigger page cache or relaxed syncs measured
        # no faster here; SQLite's three B-tree inserts per row x feature are the floor.
        self._conn = sqlite3.connect(str(path))
        self._table = table
        self._skip = skip
        self._name = f"{project}_{table.name}"
        quoted = _quote_id(self._name)
        self._create_table(quoted)
        self._upsert = (
            f"INSERT INTO {quoted} (entity_key, feature_name, value, value_text, event_ts, created_ts) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
            "value = excluded.value, value_text = excluded.value_text, "
            "event_ts = excluded.event_ts, created_ts = excluded.created_ts;"
        )

    def _create_table(self, quoted: str) -> None:
        """What ``SqliteOnlineStore.update`` does for a kept table (no-op when it exists)."""
        with self._conn:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {quoted} (entity_key BLOB, feature_name TEXT, value BLOB, "
                "value_text TEXT,  vector_value BLOB, event_ts timestamp, created_ts timestamp,  "
                "PRIMARY KEY(entity_key, feature_name))"
            )
            index = _quote_id(self._name + "_ek")
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {quoted} (entity_key);")
            try:
                self._conn.execute(f"ALTER TABLE {quoted} ADD COLUMN {_quote_id('value_text')} TEXT")
            except sqlite3.OperationalError as exc:
                if "duplicate column name" not in str(exc).lower():
                    raise

    def write(self, batch: pa.RecordBatch) -> int:
        table = self._table
        keys = entity_keys(table.entity.join_key, batch.column(table.entity.join_key))
        micros = _epoch_micros(batch.column(ENTITY_TIMESTAMP))
        seconds_map, inverse = _unique_map(micros, _sqlite_seconds)
        seconds = np.asarray(seconds_map, np.int64)[inverse]
        if self._skip:
            keep = self._newer_than_stored(keys, seconds)
            keep = _dedupe_latest(keys, seconds, keep)
            if not keep.all():
                selection = pa.array(np.flatnonzero(keep))
                batch, keys, seconds = batch.take(selection), keys.take(selection), seconds[keep]
        n = batch.num_rows
        if n == 0:
            return 0
        created_micros = _epoch_micros(batch.column(CREATED_TIMESTAMP))
        created_map, created_inverse = _unique_map(created_micros, _sqlite_seconds)
        created = [created_map[i] for i in created_inverse.tolist()]
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
        quoted = _quote_id(self._name)
        for start in range(0, len(key_bytes), _SQLITE_MAX_PARAMS):
            chunk = key_bytes[start : start + _SQLITE_MAX_PARAMS]
            rows = self._conn.execute(
                f"SELECT entity_key, MAX(event_ts) FROM {quoted} "
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


def _sqlite_seconds(micros: int) -> int:
    """What Feast's registered adapter stores: ``int(naive_utc.timestamp())``.

    A naive datetime's ``timestamp()`` reads it as *local* time, so on a host whose zone is not
    UTC Feast's stored value is shifted; doing exactly the same keeps the bytes identical.
    """
    return int(_naive_utc(micros).timestamp())


def _quote_id(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class _Meter:
    """Counts rows and reports progress every couple of seconds."""

    def __init__(self, total: int, started: float, progress: Callable[[str], None]) -> None:
        self.total, self.started, self.progress = total, started, progress
        self.read = self.written = 0
        self._last = started

    def add(self, read: int, written: int) -> None:
        self.read += read
        self.written += written
        now = time.perf_counter()
        if now - self._last >= _REPORT_EVERY_S:
            self._last = now
            self._report(now)

    def _report(self, now: float) -> None:
        rate = self.read / max(now - self.started, 1e-9)
        self.progress(f"{self.read:,}/{self.total:,} rows read, {self.written:,} written, {rate:,.0f} rows/s")

    def done(self) -> None:
        self._report(time.perf_counter())
