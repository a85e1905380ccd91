"""What every online-store backend does: bulk writes for publishing, batched reads for serving.

As Feast's ``OnlineStore``, there is one class per store type, picked from the configuration's
``type`` (:func:`content_signals.feature_repo.online_stores.open_online_store`), and each one both
writes (``online_write_batch``) and reads (``online_read``). Unlike Feast's, both sides work on
whole columns in Feast's own storage format (:mod:`content_signals.storage_format`), so the
stored bytes are Feast's while the per-value Python work is gone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from content_signals.definitions import SignalTable
from content_signals.errors import SignalsError

MISSING = -1  # event time of an entity with no row for a view


class OnlineStoreError(SignalsError):
    """The store refused a write, or is configured in a way this code does not support."""


class StoreUnavailable(OnlineStoreError):
    """The store cannot be read (unreachable, timed out, or nothing published yet)."""


@dataclass(frozen=True)
class ViewRead:
    """Which features of one feature view to read."""

    view: str
    features: list[str]


@dataclass
class ViewRows:
    """What the store holds for one view, for each requested entity (in request order).

    ``values[f][i]`` is the serialised ``ValueProto`` of feature ``f`` for entity ``i`` (None or
    b"" when absent); ``micros[i]`` is the row's event time in microseconds, or :data:`MISSING`.
    """

    values: list[list[bytes | None]]
    micros: np.ndarray


class BatchWriter(ABC):
    """Writes record batches of one signal table (its key columns and signals) into the store."""

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(failed=exc_type is not None)

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> int:
        """Store ``batch`` (perhaps in the background); the number of rows written, not skipped."""

    def flush(self) -> None:  # noqa: B027 - a writer that stores synchronously has nothing to wait for
        """Wait until every batch handed to ``write`` is stored."""

    @abstractmethod
    def close(self, failed: bool) -> None:
        """Release the connection (``failed``: an exception is on its way out)."""


class OnlineStore(ABC):
    """One online store of one Feast project."""

    @abstractmethod
    def writer(self, table: SignalTable, skip_if_not_newer: bool) -> BatchWriter:
        """A writer for ``table``'s rows. With ``skip_if_not_newer`` a row whose entity already holds
        a value at least as new is skipped (Feast's rule); without it every row is written."""

    @abstractmethod
    async def read(self, join_key: str, entity_ids: Sequence[str], reads: list[ViewRead]) -> list[ViewRows]:
        """Rows of every view in ``reads`` (all keyed by ``join_key``) for ``entity_ids``.

        Raises :class:`StoreUnavailable` when the store cannot be read.
        """

    async def close(self) -> None:  # noqa: B027 - a store without pooled read connections holds nothing
        """Close the connections reads keep open."""


def dedupe_latest(keys: pa.Array, stamps: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Of the rows in ``keep``, per key only the first row holding the key's latest timestamp.

    That is what Feast's sequential rule leaves in the store when one batch holds an entity twice.
    """
    candidates = np.flatnonzero(keep)
    if len(candidates) == 0:
        return keep
    codes = pc.dictionary_encode(keys.take(pa.array(candidates))).indices.to_numpy()
    if len(np.unique(codes)) == len(codes):
        return keep
    order = np.lexsort((candidates, -stamps[candidates], codes))
    first = np.ones(len(order), bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    result = np.zeros_like(keep)
    result[candidates[order[first]]] = True
    return result
