"""Write a validated signal partition into Feast's online store, in Feast's own format, fast.

Feast's ``materialize`` turns every value into a protobuf object and every row into one Redis
``HSET`` built by redis-py (or one SQLite ``execute`` per row x feature): about 9,000 rows/s into
Redis on a 2-core machine. A daily partition of a million items then takes minutes, most of it in
Python object churn, not in the store. Here the same bytes are written column by column:

* the Parquet partition is read in bounded record batches (never the whole partition), after the
  whole partition's schema and key columns are checked, so a bad partition writes nothing;
* entity keys, ``ValueProto`` encodings and timestamps are built with numpy / pyarrow compute
  over whole columns (:mod:`content_signals.storage_format`), one call per column;
* the configured backend (:mod:`content_signals.feature_repo.online_stores`) stores each batch:
  into Redis as one buffer of RESP commands sent while the next batch is encoded, into SQLite with
  one ``executemany`` per batch with Feast's exact statement.

The storage is byte-identical to what Feast 0.67 writes (see ``tests/test_online_write.py``,
which compares raw stored bytes and ``FeatureStore.get_online_features`` results against Feast's
own write path), so Feast's SDK and ``feast serve`` read these values unchanged. Not covered (a
clear error instead): online feature-view versioning (names carry no ``_vN``), and what the
backends list. One deliberate difference: Feast reads an integer column that holds nulls as
float64 (``pyarrow``'s ``to_numpy``), so it rounds values beyond 2**53 in such batches; we store
them exactly.

Measured (``bench/bench_materialize.py``, 2 cores): into Redis, Redis itself is the limit (its
``HSET`` of 15 fields costs it 5-10 us per key, more for new keys than for overwrites), so the
sender thread keeps it busy while this process encodes the next batch; into SQLite, its three
B-tree inserts per row x feature are the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, DType, SignalTable
from content_signals.errors import SignalsError
from content_signals.feature_repo.online_stores import open_online_store

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
    store = open_online_store(online_store, project, repo_path=repo_path)
    meter = _Meter(total, started, progress)
    with store.writer(table, skip_if_not_newer) as writer:
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
