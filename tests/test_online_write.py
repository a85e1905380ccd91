"""The online-store backend contract, run once per backend (SQLite and Redis), plus Feast's format.

Every backend of :mod:`content_signals.feature_repo.online_stores` must store exactly what Feast
stores and read back what it wrote. For each backend, the same partition is written by Feast
itself (``materialize`` from a file source over the partition) into one project and by
``write_partition`` into another; the raw stored bytes must match (Redis keys modulo the project
suffix) and ``get_online_features`` must return the same values, unknown ids included; the
backend's own reads must return the written bytes, which decode to the partition's values. Redis
is the local one, db 3; each test uses its own project names and deletes only their keys.
Behaviour only one backend has (Redis keeps every view of an entity in one hash; Feast applies its
timestamp rule only there) is tested for that backend alone, at the end.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from content_signals.config import PlatformConfig
from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, SIGNAL_TABLES, SignalTable
from content_signals.feature_repo.online_stores import (
    MISSING,
    StoreUnavailable,
    ViewRead,
    open_online_store,
)
from content_signals.feature_repo.online_write import PartitionError, write_partition
from content_signals.feature_repo.reference import partition_feature_store
from content_signals.storage_format import decode_values, entity_key, entity_keys, redis_field
from tests.conftest import free_port

TABLE = SIGNAL_TABLES["content_metadata"]
REDIS = "127.0.0.1:6379,db=3"
DAY1 = datetime(2026, 1, 7, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY2 + timedelta(days=1)
ROWS = 240
INT_VALUES = [-(2**40), -1, 0, 1, 127, 128, 300, 16_384, 2**50]
DOUBLE_VALUES = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 3.14, -2.5, 1e16, 1e-300, 0.1 + 0.2]
STRING_VALUES = ["café", "", "日本語 🎵", "a\r\nb$*3", "x" * 300, "en"]


# --- partitions --------------------------------------------------------------------------------


def ids(count: int, start: int = 0) -> list[str]:
    out = [f"c{i:06d}" for i in range(start, start + count)]
    if start == 0:
        out[3] = "ç-日本-🎵"  # a non-ASCII entity id
        out[4] = "c" * 80  # a long one
    return out


def make_partition(
    directory: Path, table: SignalTable, entity_ids: list[str], day_end: datetime, seed: int, files: int = 2
) -> Path:
    """Every dtype, ~15% nulls in every column, edge values; in ``files`` files plus _SUCCESS."""
    rng = np.random.default_rng(seed)
    n = len(entity_ids)
    columns: dict[str, pa.Array] = {
        table.entity.join_key: pa.array(entity_ids, pa.string()),
        ENTITY_TIMESTAMP: pa.array([day_end] * n, pa.timestamp("us", tz="UTC")),
        CREATED_TIMESTAMP: pa.array(
            [day_end + timedelta(hours=1, microseconds=250)] * n, pa.timestamp("us", tz="UTC")
        ),
    }
    for signal in table.signals:
        mask = rng.random(n) < 0.15
        if signal.dtype == "int64":
            columns[signal.name] = pa.array(rng.choice(INT_VALUES, n), pa.int64(), mask=mask)
        elif signal.dtype == "double":
            columns[signal.name] = pa.array(rng.choice(DOUBLE_VALUES, n), pa.float64(), mask=mask)
        elif signal.dtype == "bool":
            columns[signal.name] = pa.array(rng.random(n) < 0.5, pa.bool_(), mask=mask)
        else:
            columns[signal.name] = pa.array(rng.choice(STRING_VALUES, n).tolist(), pa.string(), mask=mask)
    data = pa.table(columns)
    directory.mkdir(parents=True)
    step = -(-n // files)
    for i in range(files):
        pq.write_table(data.slice(i * step, step), directory / f"part-{i:05d}.snappy.parquet")
    (directory / "_SUCCESS").write_bytes(b"")
    return directory


# --- backends under test ------------------------------------------------------------------------


class Backend:
    """One online store: its Feast settings, and raw reads of what a project holds in it."""

    kind: str
    # Stored rows per entity of TABLE: one hash in Redis, one row per feature in SQLite.
    rows_per_entity: int

    def __init__(self, settings: dict[str, Any], root: Path) -> None:
        self.settings = settings
        self.root = root
        self.projects: list[str] = []  # to clean up

    def snapshot(self, project: str) -> dict[Any, Any]:
        """Everything the project holds for TABLE, keyed without the project name."""
        raise NotImplementedError

    def structure(self, project: str) -> Any:
        """What the store holds besides the values (tables and indexes, key expiry)."""
        raise NotImplementedError

    def holds_nothing(self, project: str) -> bool:
        raise NotImplementedError

    def unreachable(self) -> dict[str, Any]:
        """Settings of the same kind of store where there is none."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove what the test's projects wrote (a SQLite file goes with the temp folder)."""


class SqliteBackend(Backend):
    kind = "sqlite"
    rows_per_entity = len(TABLE.signals)

    def snapshot(self, project: str) -> dict[Any, Any]:
        with sqlite3.connect(self.settings["path"]) as conn:
            rows = conn.execute(
                "SELECT entity_key, feature_name, value, value_text, vector_value, event_ts, created_ts, "
                f'typeof(event_ts), typeof(created_ts) FROM "{project}_{TABLE.name}"'
            ).fetchall()
        return {(r[0], r[1]): r[2:] for r in rows}

    def structure(self, project: str) -> list[str]:
        with sqlite3.connect(self.settings["path"]) as conn:
            rows = conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name",
                (f"{project}_{TABLE.name}",),
            ).fetchall()
        return [f"{t} {n.replace(project, 'P')} {(s or '').replace(project, 'P')}" for t, n, s in rows]

    def holds_nothing(self, project: str) -> bool:
        with sqlite3.connect(self.settings["path"]) as conn:
            return conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)  # type: ignore[no-any-return]

    def unreachable(self) -> dict[str, Any]:
        return {"type": "sqlite", "path": str(self.root / "never-published.db")}


class RedisBackend(Backend):
    kind = "redis"
    rows_per_entity = 1

    def snapshot(self, project: str) -> dict[Any, Any]:
        client = redis_client()
        suffix = project.encode()
        keys = list(client.scan_iter(match=b"*" + suffix, count=1_000))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
            pipe.ttl(key)
        replies = pipe.execute()
        return {key[: -len(suffix)]: (replies[2 * i], replies[2 * i + 1]) for i, key in enumerate(keys)}

    def structure(self, project: str) -> set[int]:
        return {ttl for _, ttl in self.snapshot(project).values()}

    def holds_nothing(self, project: str) -> bool:
        return self.snapshot(project) == {}

    def unreachable(self) -> dict[str, Any]:
        return {"type": "redis", "connection_string": f"127.0.0.1:{free_port()}"}

    def cleanup(self) -> None:
        client = redis_client()
        for project in self.projects:
            keys = list(client.scan_iter(match=b"*" + project.encode(), count=1_000))
            if keys:
                client.unlink(*keys)


def redis_client() -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=3)


def open_backend(kind: str, tmp_path: Path) -> Backend:
    if kind == "redis":
        import redis

        try:
            redis_client().ping()
        except redis.ConnectionError:
            pytest.skip("no Redis at 127.0.0.1:6379")
        return RedisBackend({"type": "redis", "connection_string": REDIS}, tmp_path)
    return SqliteBackend({"type": "sqlite", "path": str(tmp_path / "online.db")}, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, platform_config: PlatformConfig
) -> Iterator[Backend]:
    """Each backend in turn: the contract tests run once per backend."""
    # platform_config: prepare_process points Feast's metrics folder at a run-local one.
    store = open_backend(request.param, tmp_path)
    yield store
    store.cleanup()


@pytest.fixture
def redis_backend(tmp_path: Path, platform_config: PlatformConfig) -> Iterator[Backend]:
    """Redis alone, for the behaviour only Redis has."""
    store = open_backend("redis", tmp_path)
    yield store
    store.cleanup()


def project(backend: Backend, role: str) -> str:
    name = f"ow_{role}_{uuid.uuid4().hex[:10]}"
    backend.projects.append(name)
    return name


def feast_store(backend: Backend, name: str, partition: Path) -> Any:
    """A FeatureStore for project ``name``, with the table's view over ``partition`` applied."""
    return partition_feature_store(name, backend.root, backend.settings, TABLE, partition, 100)


def online_values(store: Any, entity_ids: list[str]) -> dict[str, list[Any]]:
    features = [f"{TABLE.name}:{s.name}" for s in TABLE.signals]
    rows = [{TABLE.entity.join_key: i} for i in entity_ids]
    result: dict[str, list[Any]] = store.get_online_features(features=features, entity_rows=rows).to_dict()
    return result


def normalised(values: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """NaN never comes back (Feast stores it as null), but compare it safely anyway."""
    return {k: ["NaN" if isinstance(v, float) and v != v else v for v in vs] for k, vs in values.items()}


# --- the contract: every backend --------------------------------------------------------------


def test_same_bytes_and_same_online_reads_as_feast(backend: Backend, tmp_path: Path) -> None:
    partition = make_partition(tmp_path / "day1", TABLE, ids(ROWS), DAY2, seed=1)
    feast_project, our_project = project(backend, "feast"), project(backend, "ours")

    feast = feast_store(backend, feast_project, partition)
    feast.materialize(DAY1, DAY2 + timedelta(seconds=1), [TABLE.name])
    lines: list[str] = []
    # Our project is written before Feast ever applies it: the SQLite table is ours to create.
    result = write_partition(
        backend.settings, our_project, TABLE, partition, batch_rows=64, progress=lines.append
    )
    ours = feast_store(backend, our_project, partition)

    assert (result.rows, result.rows_read, result.skipped) == (ROWS, ROWS, 0)
    assert lines and f"{ROWS:,}/{ROWS:,} rows read" in lines[-1]
    expected = backend.snapshot(feast_project)
    assert len(expected) == ROWS * backend.rows_per_entity
    assert backend.snapshot(our_project) == expected
    # The same tables and indexes (SQLite), no expiry unless key_ttl_seconds is set (Redis).
    assert backend.structure(our_project) == backend.structure(feast_project)

    sample = [*ids(ROWS)[:40], "never-published", ids(ROWS)[ROWS - 1]]
    from_feast = online_values(feast, sample)
    assert from_feast[TABLE.signals[0].name][40] is None  # the unknown id
    assert normalised(online_values(ours, sample)) == normalised(from_feast)


def test_reads_return_what_was_written(backend: Backend, tmp_path: Path) -> None:
    """The backend's own read (serving's) gets the bytes its write (publishing's) stored."""
    entity_ids = ids(ROWS)
    partition = make_partition(tmp_path / "day", TABLE, entity_ids, DAY2, seed=11)
    ours = project(backend, "ours")
    write_partition(backend.settings, ours, TABLE, partition, batch_rows=100)
    data = pq.read_table(partition)
    row_of = {cid: i for i, cid in enumerate(data.column(TABLE.entity.join_key).to_pylist())}
    wanted = [entity_ids[7], entity_ids[3], "never-published", entity_ids[7], entity_ids[ROWS - 1]]
    features = [s.name for s in TABLE.signals]
    never_written = SIGNAL_TABLES["content_engagement"]
    reads = [ViewRead(TABLE.name, features), ViewRead(never_written.name, [never_written.signals[0].name])]

    store = open_online_store(backend.settings, ours)
    rows, other = asyncio.run(store.read(TABLE.entity.join_key, wanted, reads))
    asyncio.run(store.close())

    day_micros = int(DAY2.timestamp() * 1_000_000)
    assert rows.micros.tolist() == [day_micros, day_micros, MISSING, day_micros, day_micros]
    assert other.micros.tolist() == [MISSING] * len(wanted) and other.values == [[None] * len(wanted)]
    picked = [row_of.get(cid, 0) for cid in wanted]
    found = rows.micros != MISSING
    decoded = decode_values([s.dtype for s in TABLE.signals], rows.values, np.tile(found, len(features)))
    compared = 0
    for f, signal in enumerate(TABLE.signals):
        stored = rows.values[f]
        assert stored[2] is None  # the unknown id
        written = data.column(signal.name).to_pylist()
        for i, row in enumerate(picked):
            if i == 2:
                continue
            value = written[row]
            if value is None or value != value:  # null, NaN: stored as an empty ValueProto
                assert not stored[i] and not decoded.stored[f * len(wanted) + i], (signal.name, value)
            else:
                assert decoded.columns[f][i] == value, (signal.name, value, decoded.columns[f][i])
                compared += 1
    assert compared > len(TABLE.signals) * 2


def test_an_unreachable_store_is_unavailable(backend: Backend) -> None:
    store = open_online_store(backend.unreachable(), "nowhere")
    with pytest.raises(StoreUnavailable, match=r"online store .* (unavailable|does not exist)"):
        asyncio.run(
            store.read(TABLE.entity.join_key, ["c1"], [ViewRead(TABLE.name, [TABLE.signals[0].name])])
        )
    asyncio.run(store.close())


def test_skip_if_not_newer_keeps_newer_values(backend: Backend, tmp_path: Path) -> None:
    old = make_partition(tmp_path / "old", TABLE, ids(ROWS), DAY2, seed=2)
    # The current day covers only part of the old one's ids, plus some new ones.
    current_ids = ids(ROWS // 2) + ids(20, start=10_000)
    current = make_partition(tmp_path / "current", TABLE, current_ids, DAY3, seed=3)
    newer = make_partition(tmp_path / "newer", TABLE, current_ids, DAY3 + timedelta(days=1), seed=4)
    ours, reference = project(backend, "ours"), project(backend, "ref")

    write_partition(backend.settings, ours, TABLE, current)
    result = write_partition(backend.settings, ours, TABLE, old, skip_if_not_newer=True, batch_rows=50)
    # The expected state: the current day over the ids only the old day has.
    write_partition(backend.settings, reference, TABLE, old)
    write_partition(backend.settings, reference, TABLE, current)
    assert (result.rows, result.skipped) == (ROWS - ROWS // 2, ROWS // 2)
    assert backend.snapshot(ours) == backend.snapshot(reference)

    result = write_partition(backend.settings, ours, TABLE, newer, skip_if_not_newer=True)
    write_partition(backend.settings, reference, TABLE, newer)
    assert (result.rows, result.skipped) == (len(current_ids), 0)
    assert backend.snapshot(ours) == backend.snapshot(reference)

    # The same instant again is not newer: nothing is rewritten.
    again = write_partition(backend.settings, ours, TABLE, newer, skip_if_not_newer=True)
    assert (again.rows, again.skipped) == (0, len(current_ids))


def test_writing_a_partition_twice_changes_nothing(backend: Backend, tmp_path: Path) -> None:
    partition = make_partition(tmp_path / "day", TABLE, ids(ROWS), DAY2, seed=7, files=3)
    ours = project(backend, "ours")
    write_partition(backend.settings, ours, TABLE, partition)
    first = backend.snapshot(ours)
    again = write_partition(backend.settings, ours, TABLE, partition, batch_rows=37)
    assert again.rows == ROWS
    assert backend.snapshot(ours) == first


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda t: t.drop_columns([TABLE.signals[2].name]), f"column {TABLE.signals[2].name!r} is missing"),
        (
            lambda t: t.set_column(
                t.schema.get_field_index(TABLE.signals[0].name),
                TABLE.signals[0].name,
                t.column(TABLE.signals[0].name).cast(pa.string()),
            ),
            f"column {TABLE.signals[0].name!r} is string, expected an integer",
        ),
        (
            lambda t: t.set_column(0, TABLE.entity.join_key, pa.array([None] * t.num_rows, pa.string())),
            f"null value(s) in key column {TABLE.entity.join_key!r}",
        ),
    ],
    ids=["missing-column", "wrong-type", "null-key"],
)
def test_a_bad_partition_fails_clearly_and_writes_nothing(
    backend: Backend, tmp_path: Path, break_it: Any, message: str
) -> None:
    partition = make_partition(tmp_path / "day", TABLE, ids(ROWS), DAY2, seed=10)
    # Only the last file is bad: the good one before it must not be written either.
    last = sorted(partition.glob("*.parquet"))[-1]
    pq.write_table(break_it(pq.read_table(last)), last)
    ours = project(backend, "ours")
    with pytest.raises(PartitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_partition(backend.settings, ours, TABLE, partition, batch_rows=16)
    assert backend.holds_nothing(ours)


# --- Feast's format ----------------------------------------------------------------------------


def test_entity_keys_and_field_names_are_feasts() -> None:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import _mmh3
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    for signal in TABLE.signals:
        assert redis_field(TABLE.name, signal.name) == _mmh3(f"{TABLE.name}:{signal.name}")
    assert redis_field("v", "çé🎵") == _mmh3("v:çé🎵")
    samples = ["c000001", "ç-日本-🎵", "", "c" * 300]
    feasts = [
        serialize_entity_key(EntityKey(join_keys=["content_id"], entity_values=[Value(string_val=s)]), 3)
        for s in samples
    ]
    assert [entity_key("content_id", s) for s in samples] == feasts
    assert entity_keys("content_id", pa.array(samples)).to_pylist() == feasts


# --- Redis alone -------------------------------------------------------------------------------


def test_skip_rule_matches_feasts_own_writes(redis_backend: Backend, tmp_path: Path) -> None:
    """Feast itself applies the rule in Redis (its SQLite store overwrites regardless)."""
    backend = redis_backend
    older = make_partition(tmp_path / "older", TABLE, ids(60), DAY2, seed=5)
    newest = make_partition(tmp_path / "newest", TABLE, ids(30), DAY3, seed=6)
    feast_project, ours = project(backend, "feast"), project(backend, "ours")
    feast = feast_store(backend, feast_project, newest)
    feast.write_to_online_store(TABLE.name, pq.read_table(newest).to_pandas())
    feast.write_to_online_store(TABLE.name, pq.read_table(older).to_pandas())
    write_partition(backend.settings, ours, TABLE, newest)
    write_partition(backend.settings, ours, TABLE, older, skip_if_not_newer=True)
    assert backend.snapshot(ours) == backend.snapshot(feast_project)


def test_other_views_fields_on_the_same_entity_survive(redis_backend: Backend, tmp_path: Path) -> None:
    """Redis keeps every view of an entity in one hash: HSET must add fields, never replace."""
    backend = redis_backend
    other = SIGNAL_TABLES["content_engagement"]
    assert other.entity == TABLE.entity
    ours = project(backend, "ours")
    write_partition(
        backend.settings, ours, other, make_partition(tmp_path / "e", other, ids(20), DAY2, seed=8)
    )
    write_partition(
        backend.settings, ours, TABLE, make_partition(tmp_path / "m", TABLE, ids(20), DAY2, seed=9)
    )
    fields = next(iter(backend.snapshot(ours).values()))[0]
    assert f"_ts:{other.name}".encode() in fields and f"_ts:{TABLE.name}".encode() in fields
    assert len(fields) == len(other.signals) + len(TABLE.signals) + 2
