"""Serving's view of stored values: typed columns with a FeatureStatus per value.

The bytes are decoded by :func:`content_signals.storage_format.decode_values` (a few numpy passes
over all of a request's values, never one proto per value); this module adds what serving means
by them: a value is PRESENT, NULL_VALUE (stored as null) or NOT_FOUND (the entity has no row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from content_signals.definitions import DType
from content_signals.serving.catalog import ValueType
from content_signals.storage_format import decode_values

# content_signals.v1.FeatureStatus numbers, so columns go into protos unchanged.
PRESENT = 1
NOT_FOUND = 2
OUTSIDE_MAX_AGE = 3
NULL_VALUE = 4

# The signal dtype each served type is stored as.
_STORED_AS: dict[ValueType, DType] = {
    ValueType.INT64: "int64",
    ValueType.DOUBLE: "double",
    ValueType.STRING: "string",
    ValueType.BOOL: "bool",
    ValueType.FLOAT_VECTOR: "float_vector",
}


@dataclass
class DecodedColumn:
    """One feature for every entity: ``values[i]`` is meaningful only where ``statuses[i]`` is PRESENT.

    ``values`` is an int64 / float64 / bool numpy array, or a list of str / list[float].
    """

    type: ValueType
    values: Any
    statuses: np.ndarray


def decode_columns(
    value_types: list[ValueType], raws: list[list[bytes | None]], rows_found: list[np.ndarray]
) -> list[DecodedColumn]:
    """Decode many features at once; ``rows_found[c][i]`` says whether entity i has a row for
    feature c. One :func:`decode_values` call, so its fixed cost is paid once per request."""
    found = np.concatenate(rows_found) if rows_found else np.zeros(0, dtype=bool)
    decoded = decode_values([_STORED_AS[t] for t in value_types], raws, found)
    statuses = np.where(found, np.where(decoded.stored, PRESENT, NULL_VALUE), NOT_FOUND).astype(np.int32)
    columns = []
    start = 0
    for value_type, values, raw in zip(value_types, decoded.columns, raws, strict=True):
        end = start + len(raw)
        columns.append(DecodedColumn(value_type, values, statuses[start:end]))
        start = end
    return columns
