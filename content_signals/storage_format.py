"""How Feast 0.67 lays values out in its online stores: the one place that knows the bytes.

The online writer (:mod:`content_signals.feature_repo.online_write`) and every online-store
backend (:mod:`content_signals.feature_repo.online_stores`, read by serving) encode and decode
through this module, so a stored value means the same thing on both sides, and Feast's SDK and
``feast serve`` read what we write unchanged (``tests/test_online_write.py`` compares raw stored
bytes with Feast's own writes; ``tests/test_online_read.py`` compares reads with Feast's SDK).
The format, with its place in Feast 0.67's source:

* entity key: ``feast/infra/key_encoding_utils.py`` ``serialize_entity_key`` (version 3): ``<I``
  number of keys, then per key ``<I`` ValueType.STRING (2), ``<I`` length, the UTF-8 name, then
  per value ``<I`` value type, ``<I`` length, the UTF-8 value;
* values: ``feast/type_map.py`` ``_convert_scalar_values_to_proto``: a null (or a NaN, which
  ``pd.isnull`` also catches) becomes an empty ``ValueProto``, serialised as zero bytes; otherwise
  ``int64_val`` (field 4, varint), ``double_val`` (field 5, 8 bytes little-endian), ``bool_val``
  (field 7, varint), ``string_val`` (field 2, length-delimited) or ``float_list_val`` (field 16,
  a packed FloatList), always emitted because they sit in a ``oneof``;
* Redis (``feast/infra/online_stores/redis.py``): hash key = serialised entity key + project name
  (``helpers._redis_key``); one field per feature, named by the little-endian 4-byte murmur3_32 of
  ``"<view>:<feature>"`` (``helpers._mmh3``); field ``_ts:<view>`` holds a serialised
  ``google.protobuf.Timestamp`` of the event time;
* SQLite (``feast/infra/online_stores/sqlite.py``): table ``<project>_<view>``, one row per
  entity x feature, ``value_text`` from ``helpers.extract_text_and_num`` (``str()`` of the value;
  none for a vector), and timestamps stored as ``int(naive_utc_datetime.timestamp())`` by the
  ``datetime`` adapter Feast registers last (``adapt_datetime_epoch``).

Encoding works on whole Arrow columns (one numpy / pyarrow call per column, not one proto per
value: the writer's speed); decoding works on a request's stored bytes with a few numpy passes
over all of them (the reader's speed), falling back to protobuf's parser for any layout the fast
paths do not cover, so it always equals ``ValueProto.ParseFromString``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.timestamp_pb2 import Timestamp

from content_signals.definitions import DType

# feast.protos.feast.types.Value_pb2.ValueType.STRING: the type of every entity key's name and value.
VALUE_TYPE_STRING = 2
# Wire-format tags (field number << 3 | wire type) of feast.types.Value's oneof members.
TAG_STRING = 0x12  # string_val = 2, length-delimited
TAG_INT64 = 0x20  # int64_val = 4, varint
TAG_DOUBLE = 0x29  # double_val = 5, 64-bit
TAG_BOOL = 0x38  # bool_val = 7, varint
TAG_FLOAT_LIST = b"\x82\x01"  # float_list_val = 16, length-delimited (a two-byte tag)
TAG_PACKED_FLOATS = 0x0A  # FloatList.val = 1, packed
_EPOCH = datetime(1970, 1, 1)
_U32 = struct.Struct("<I")


# --- entity keys, Redis hash fields, SQLite tables ---------------------------------------------


def _entity_key_prefix(join_key: str) -> bytes:
    """Everything of a one-key ``serialize_entity_key`` before the value's length."""
    name = join_key.encode("utf-8")
    return struct.pack("<III", 1, VALUE_TYPE_STRING, len(name)) + name + struct.pack("<I", VALUE_TYPE_STRING)


def entity_key(join_key: str, entity_id: str) -> bytes:
    """``serialize_entity_key(EntityKey(join_keys=[join_key], entity_values=[string_val]), 3)``."""
    return entity_key_list(join_key, [entity_id])[0]


def entity_key_list(join_key: str, entity_ids: Iterable[str], suffix: bytes = b"") -> list[bytes]:
    """:func:`entity_key` of each id, followed by ``suffix``: the project name's UTF-8 bytes make
    the Redis hash key. One call per request on the read path: the key's prefix is built once."""
    prefix = _entity_key_prefix(join_key)
    pack = _U32.pack
    return [prefix + pack(len(value)) + value + suffix for value in (e.encode("utf-8") for e in entity_ids)]


def entity_keys(join_key: str, ids: pa.Array) -> pa.Array:
    """:func:`entity_key` of every id of a string column, as a binary column."""
    values = _as_binary(ids)
    return join_binary(_entity_key_prefix(join_key), _u32le(pc.binary_length(values).to_numpy()), values)


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


def redis_timestamp_field(view: str) -> bytes:
    """The hash field holding a view's event time (a serialised ``Timestamp``)."""
    return f"_ts:{view}".encode()


def sqlite_table(project: str, view: str) -> str:
    """A view's SQLite table, quoted as an SQL identifier (Feast names it ``<project>_<view>``)."""
    return quote_identifier(f"{project}_{view}")


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# --- timestamps --------------------------------------------------------------------------------


def epoch_micros(column: pa.Array) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a non-null timestamp column, whatever its zone.

    Feast goes through Python datetimes, which hold microseconds: nanoseconds are dropped.
    """
    values = column.view(pa.int64()).to_numpy()
    unit = column.type.unit
    if unit == "ns":
        return values // 1_000  # type: ignore[no-any-return]
    return values * {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]  # type: ignore[no-any-return]


def _unique_map(micros: np.ndarray, convert: Callable[[int], Any]) -> tuple[list[Any], np.ndarray]:
    """``convert`` applied once per distinct timestamp (a partition holds very few of them)."""
    unique, inverse = np.unique(micros, return_inverse=True)
    return [convert(int(u)) for u in unique.tolist()], inverse


def _naive_utc(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _timestamp_proto(micros: int) -> bytes:
    proto = Timestamp()
    proto.FromDatetime(_naive_utc(micros).replace(tzinfo=UTC))
    return proto.SerializeToString()  # type: ignore[no-any-return]


def timestamp_protos(micros: np.ndarray) -> pa.Array:
    """``Timestamp.FromDatetime(make_tzaware(ts)).SerializeToString()`` per row: a ``_ts:`` field."""
    encoded, inverse = _unique_map(micros, _timestamp_proto)
    return pa.array(encoded, pa.binary()).take(pa.array(inverse))


def timestamp_nanos(serialized: bytes) -> int:
    """Nanoseconds since the epoch of a serialised ``google.protobuf.Timestamp`` (a ``_ts:`` field)."""
    proto = Timestamp()
    proto.ParseFromString(serialized)
    return int(proto.seconds) * 1_000_000_000 + int(proto.nanos)


def _sqlite_second(micros: int) -> int:
    # A naive datetime's ``timestamp()`` reads it as *local* time, so on a host whose zone is not
    # UTC Feast's stored value is shifted; doing exactly the same keeps the bytes identical.
    return int(_naive_utc(micros).timestamp())


def sqlite_seconds(micros: np.ndarray) -> np.ndarray:
    """What Feast's registered adapter stores per row: ``int(naive_utc.timestamp())``."""
    seconds, inverse = _unique_map(micros, _sqlite_second)
    return np.asarray(seconds, np.int64)[inverse]  # type: ignore[no-any-return]


def sqlite_micros(event_ts: Any) -> int:
    """Microseconds of a stored SQLite ``event_ts``: an int of seconds (Feast's epoch adapter), or
    ISO text from a store written without it."""
    if isinstance(event_ts, int | float):
        return int(event_ts * 1_000_000)
    text = event_ts.decode() if isinstance(event_ts, bytes) else str(event_ts)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


# --- encoding whole columns --------------------------------------------------------------------


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


def join_binary(*parts: pa.Array | bytes) -> pa.Array:
    """Row-wise concatenation of binary arrays and constant byte strings."""
    args = [pa.scalar(p, pa.binary()) if isinstance(p, bytes) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar(b"", pa.binary()))


def _as_binary(column: pa.Array) -> pa.Array:
    return column.cast(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())


def encode_values(dtype: DType, column: pa.Array) -> pa.Array:
    """``python_values_to_proto_values(column.to_numpy(), <type>)[i].SerializeToString()``.

    A null (and, for doubles, a NaN) is an empty ValueProto: zero bytes.
    """
    n = len(column)
    invalid = column.is_null().to_numpy(zero_copy_only=False)
    if dtype == "string":
        values = _as_binary(column).fill_null(b"")
        matrix = np.empty((n, 11), np.uint8)
        matrix[:, 0] = TAG_STRING
        matrix[:, 1:], lengths = _varint(pc.binary_length(values).to_numpy())
        lengths = np.where(invalid, 0, lengths + 1)
        return join_binary(_binary(matrix, lengths), values)
    if dtype == "int64":
        ints = column.cast(pa.int64()).fill_null(0).to_numpy()
        matrix = np.empty((n, 11), np.uint8)
        matrix[:, 0] = TAG_INT64
        matrix[:, 1:], lengths = _varint(ints.view(np.uint64))
        return _binary(matrix, np.where(invalid, 0, lengths + 1))
    if dtype == "double":
        floats = column.to_numpy(zero_copy_only=False).astype("<f8", copy=False)  # null -> NaN
        matrix = np.empty((n, 9), np.uint8)
        matrix[:, 0] = TAG_DOUBLE
        matrix[:, 1:] = floats.view(np.uint8).reshape(n, 8)
        return _binary(matrix, np.where(np.isnan(floats), 0, 9))
    if dtype == "bool":
        flags = column.fill_null(False).to_numpy(zero_copy_only=False)
        matrix = np.empty((n, 2), np.uint8)
        matrix[:, 0] = TAG_BOOL
        matrix[:, 1] = flags
        return _binary(matrix, np.where(invalid, 0, 2))
    if dtype == "float_vector":
        return _float_lists(column, invalid)
    raise ValueError(f"unsupported dtype {dtype!r}")


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
    inner_prefix[:, 0] = TAG_PACKED_FLOATS
    inner_prefix[:, 1:], varint_lengths = _varint((counts * 4).astype(np.uint64))
    inner_lengths = np.where(counts > 0, 1 + varint_lengths, 0)
    outer = np.empty((len(counts), 10), np.uint8)
    outer[:], outer_lengths = _varint((inner_lengths + counts * 4).astype(np.uint64))
    prefix = join_binary(pa.scalar(TAG_FLOAT_LIST, pa.binary()), _binary(outer, outer_lengths))  # type: ignore[arg-type]
    encoded = join_binary(prefix, _binary(inner_prefix, inner_lengths), data)
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
    raise ValueError(f"unsupported dtype {dtype!r}")


# --- decoding a request's stored values --------------------------------------------------------

_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)
_KINDS: dict[DType, int] = {"int64": 1, "double": 2, "string": 3, "bool": 4, "float_vector": 5}
_INT64, _DOUBLE, _STRING, _BOOL = (_KINDS[d] for d in ("int64", "double", "string", "bool"))


@dataclass
class DecodedValues:
    """Several columns of stored values, decoded together.

    ``columns[c]`` is an int64 / float64 / bool numpy array, or a list of str / list[float];
    ``stored`` has one flag per value of all columns, back to back: the value was decoded and holds
    something (not a missing row, not zero bytes, not an empty ``ValueProto``). Elsewhere a column
    holds 0, False, "" or [].
    """

    columns: list[Any]
    stored: np.ndarray


def _empty(dtype: DType, n: int) -> Any:
    if dtype == "string":
        return [""] * n
    return [[] for _ in range(n)]


def _proto_value(serialized: bytes) -> Any:
    from feast.protos.feast.types.Value_pb2 import Value

    value = Value.FromString(serialized)
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    found = getattr(value, kind)
    return list(found.val) if kind.endswith("_list_val") else found


def decode_values(
    dtypes: Sequence[DType], raws: Sequence[list[bytes | None]], wanted: np.ndarray
) -> DecodedValues:
    """Decode column ``c`` of ``raws`` (serialised ``ValueProto`` s, None or b"" for none) as ``dtypes[c]``.

    ``wanted`` flags, for all columns back to back, the values to decode (the others, rows the
    store does not hold, are left out). All columns are concatenated and decoded in one numpy pass
    per layout, so the fixed cost of numpy calls is paid once per request, not per column, and
    Python touches each value only to measure it. An ``int64`` column also takes int32 values and
    a ``double`` column float values (through protobuf's parser).
    """
    counts = [len(r) for r in raws]
    flat = list(chain.from_iterable(raws))
    total = len(flat)
    lengths = np.array([len(b) if b else 0 for b in flat], dtype=np.int64)
    kinds = np.repeat(np.array([_KINDS[d] for d in dtypes], dtype=np.int8), counts)
    stored = wanted & (lengths > 0)
    blob = np.frombuffer(b"".join(filter(None, flat)), dtype=np.uint8)  # type: ignore[arg-type]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    tags = np.zeros(total, dtype=np.uint8)
    tags[stored] = blob[starts[stored]]
    doubles = np.zeros(total, dtype=np.float64)
    ints = np.zeros(total, dtype=np.int64)
    bools = np.zeros(total, dtype=bool)
    done = ~stored

    fast = stored & (kinds == _DOUBLE) & (tags == TAG_DOUBLE) & (lengths == 9)
    if fast.any():
        doubles[fast] = blob[starts[fast, None] + 1 + np.arange(8)].copy().view("<f8").ravel()
        done |= fast
    fast = stored & (kinds == _BOOL) & (tags == TAG_BOOL) & (lengths == 2)
    if fast.any():
        bools[fast] = blob[starts[fast] + 1] != 0
        done |= fast
    fast = stored & (kinds == _INT64) & (tags == TAG_INT64) & (lengths >= 2) & (lengths <= 11)
    if fast.any():
        index = starts[fast, None] + 1 + np.arange(10)
        valid = np.arange(10) < (lengths[fast] - 1)[:, None]
        groups = np.where(valid, blob[np.minimum(index, blob.size - 1)], 0).astype(np.uint64)
        ints[fast] = ((groups & np.uint64(0x7F)) << _SHIFTS).sum(axis=1, dtype=np.uint64).view(np.int64)
        done |= fast
    others: dict[int, Any] = {}
    for i in np.flatnonzero(stored & (kinds == _STRING) & (tags == TAG_STRING)).tolist():
        data = flat[i]
        if data[1] < 0x80:  # type: ignore[index]  # a one-byte length: sliced directly
            others[i] = data[2:].decode("utf-8")  # type: ignore[index]
            done[i] = True
    for i in np.flatnonzero(~done).tolist():
        value = _proto_value(flat[i])  # type: ignore[arg-type]
        if value is None:
            stored[i] = False
        elif kinds[i] == _DOUBLE:
            doubles[i] = value
        elif kinds[i] == _INT64:
            ints[i] = value
        elif kinds[i] == _BOOL:
            bools[i] = value
        else:
            others[i] = value

    columns: list[Any] = []
    start = 0
    for dtype, n in zip(dtypes, counts, strict=True):
        end = start + n
        if dtype == "double":
            columns.append(doubles[start:end])
        elif dtype == "int64":
            columns.append(ints[start:end])
        elif dtype == "bool":
            columns.append(bools[start:end])
        else:
            values = _empty(dtype, n)
            for i in range(start, end):
                if i in others:
                    values[i - start] = others[i]
            columns.append(values)
        start = end
    return DecodedValues(columns, stored)
