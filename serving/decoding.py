"""Decode a column of serialised Feast ``ValueProto`` values with numpy, not one proto per value.

A ``ValueProto`` holding a double is 9 bytes (tag ``0x29`` then 8 little-endian bytes), a bool 2
bytes (``0x38``, 0 or 1), an int64 a tag ``0x20`` and a varint. A column of those is decoded in a
few numpy operations over the concatenated bytes; strings are sliced out directly; anything else
(vectors, int32 or float values in a column, a value that does not fit the fast layout) falls back
to parsing the proto, so the result is always what ``ValueProto.ParseFromString`` would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from content_signals.serving.catalog import ValueType

# content_signals.v1.FeatureStatus numbers, so columns go into protos unchanged.
PRESENT = 1
NOT_FOUND = 2
OUTSIDE_MAX_AGE = 3
NULL_VALUE = 4

_DOUBLE_TAG = 0x29
_INT64_TAG = 0x20
_BOOL_TAG = 0x38
_STRING_TAG = 0x12
_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)


@dataclass
class DecodedColumn:
    """One feature for every entity: ``values[i]`` is meaningful only where ``statuses[i]`` is PRESENT.

    ``values`` is an int64 / float64 / bool numpy array, or a list of str / list[float].
    """

    type: ValueType
    values: Any
    statuses: np.ndarray


def _empty(value_type: ValueType, n: int) -> Any:
    if value_type == ValueType.INT64:
        return np.zeros(n, dtype=np.int64)
    if value_type == ValueType.DOUBLE:
        return np.zeros(n, dtype=np.float64)
    if value_type == ValueType.BOOL:
        return np.zeros(n, dtype=bool)
    if value_type == ValueType.STRING:
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


def decode_column(value_type: ValueType, raw: list[bytes | None], row_found: np.ndarray) -> DecodedColumn:
    """Decode one feature's stored bytes; ``row_found[i]`` says whether entity i has a row."""
    return decode_columns([value_type], [raw], [row_found])[0]


def decode_columns(
    value_types: list[ValueType], raws: list[list[bytes | None]], rows_found: list[np.ndarray]
) -> list[DecodedColumn]:
    """Decode many features at once: the values of all of them are concatenated and decoded in one
    numpy pass per layout, so the fixed cost of numpy calls is paid once per request, not per
    feature, and Python touches each value only to measure it."""
    counts = [len(r) for r in raws]
    flat = list(chain.from_iterable(raws))
    total = len(flat)
    lengths = np.array([len(b) if b else 0 for b in flat], dtype=np.int64)
    kinds = np.repeat(np.array([int(t) for t in value_types], dtype=np.int8), counts)
    found = np.concatenate(rows_found) if rows_found else np.zeros(0, dtype=bool)
    statuses = np.where(found, np.where(lengths > 0, PRESENT, NULL_VALUE), NOT_FOUND).astype(np.int32)
    blob = np.frombuffer(b"".join(filter(None, flat)), dtype=np.uint8)  # type: ignore[arg-type]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    present = statuses == PRESENT
    tags = np.zeros(total, dtype=np.uint8)
    tags[present] = blob[starts[present]]
    doubles = np.zeros(total, dtype=np.float64)
    ints = np.zeros(total, dtype=np.int64)
    bools = np.zeros(total, dtype=bool)
    done = ~present

    fast = present & (kinds == ValueType.DOUBLE) & (tags == _DOUBLE_TAG) & (lengths == 9)
    if fast.any():
        doubles[fast] = blob[starts[fast, None] + 1 + np.arange(8)].copy().view("<f8").ravel()
        done |= fast
    fast = present & (kinds == ValueType.BOOL) & (tags == _BOOL_TAG) & (lengths == 2)
    if fast.any():
        bools[fast] = blob[starts[fast] + 1] != 0
        done |= fast
    fast = present & (kinds == ValueType.INT64) & (tags == _INT64_TAG) & (lengths >= 2) & (lengths <= 11)
    if fast.any():
        index = starts[fast, None] + 1 + np.arange(10)
        valid = np.arange(10) < (lengths[fast] - 1)[:, None]
        groups = np.where(valid, blob[np.minimum(index, blob.size - 1)], 0).astype(np.uint64)
        ints[fast] = ((groups & np.uint64(0x7F)) << _SHIFTS).sum(axis=1, dtype=np.uint64).view(np.int64)
        done |= fast
    others: dict[int, Any] = {}
    for i in np.flatnonzero(present & (kinds == ValueType.STRING) & (tags == _STRING_TAG)).tolist():
        data = flat[i]
        if data[1] < 0x80:  # type: ignore[index]  # a one-byte length: sliced directly
            others[i] = data[2:].decode("utf-8")  # type: ignore[index]
            done[i] = True
    for i in np.flatnonzero(~done).tolist():
        value = _proto_value(flat[i])  # type: ignore[arg-type]
        if value is None:
            statuses[i] = NULL_VALUE
        elif kinds[i] == ValueType.DOUBLE:
            doubles[i] = value
        elif kinds[i] == ValueType.INT64:
            ints[i] = value
        elif kinds[i] == ValueType.BOOL:
            bools[i] = value
        else:
            others[i] = value

    columns = []
    start = 0
    for value_type, n in zip(value_types, counts, strict=True):
        end = start + n
        if value_type == ValueType.DOUBLE:
            values: Any = doubles[start:end]
        elif value_type == ValueType.INT64:
            values = ints[start:end]
        elif value_type == ValueType.BOOL:
            values = bools[start:end]
        else:
            values = _empty(value_type, n)
            for i in range(start, end):
                if i in others:
                    values[i - start] = others[i]
        columns.append(DecodedColumn(value_type, values, statuses[start:end]))
        start = end
    return columns
