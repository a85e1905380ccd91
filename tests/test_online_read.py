"""The direct online path (serving.data_plane over each online-store backend) against Feast's own SDK.

Both backends (the embedded SQLite and Redis) hold the pipeline's published partitions; for every
feature service, every value the direct path calls PRESENT equals what ``FeatureStore.
get_online_features`` returns for the same ids and creator keys, nulls and unknown ids included.
The TTL, request inputs, explicit references, the registry cache and the value decoder are tested
here too, without a server.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content_signals.config import PlatformConfig
from content_signals.feature_repo.online_stores import configured_online_store
from content_signals.feature_repo.publishing import publish
from content_signals.feature_repo.repo import feature_store
from content_signals.partitions import partition_timestamp
from content_signals.serving.catalog import Catalog, CatalogCache, ValueType, load_catalog
from content_signals.serving.data_plane import FeatureDataPlane, FeatureRequest, FeatureResult
from content_signals.serving.decoding import NOT_FOUND, NULL_VALUE, OUTSIDE_MAX_AGE, PRESENT, decode_columns
from content_signals.serving.errors import InvalidRequest, NotFound
from tests.conftest import Pipeline

pytestmark = pytest.mark.slow
REDIS_DB = 4


def _plane(config: PlatformConfig, enforce_ttl: bool = False, now: float = 0.0) -> FeatureDataPlane:
    store = feature_store(config)
    return FeatureDataPlane(
        CatalogCache(lambda: load_catalog(store), 0),
        configured_online_store(config),
        1000,
        enforce_ttl=enforce_ttl,
        clock=lambda: now,  # a fixed "now" for the TTL boundary
    )


@pytest.fixture(scope="module")
def redis_config(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformConfig]:
    import redis

    data_dir = tmp_path_factory.mktemp("online-read")
    shutil.copytree(pipeline.layout.root / "signals", data_dir / "signals")
    project = f"cs_read_{uuid.uuid4().hex[:8]}"
    config = pipeline.config.model_copy(
        update={
            "data_dir": data_dir,
            "feast": pipeline.config.feast.model_copy(
                update={
                    "project": project,
                    "online_store": pipeline.config.feast.online_store.model_copy(
                        update={"type": "redis", "connection_string": f"127.0.0.1:6379,db={REDIS_DB}"}
                    ),
                }
            ),
        }
    )
    publish(config, pipeline.previous_day)
    publish(config, pipeline.feature_day)
    yield config
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    for key in client.scan_iter(match=f"*{project}".encode(), count=10_000):
        client.delete(key)


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def store_config(request: pytest.FixtureRequest, pipeline: Pipeline) -> PlatformConfig:
    if request.param == "sqlite":
        return pipeline.config
    return request.getfixturevalue("redis_config")  # type: ignore[no-any-return]


def _ids(pipeline: Pipeline) -> list[str]:
    import pyarrow.parquet as pq

    partition = pipeline.layout.signal_partition("content_metadata", pipeline.feature_day)
    ids = sorted(pq.read_table(partition, columns=["content_id"]).column(0).to_pylist())[:30]
    return [*ids, "no-such-item", ids[0]]  # an unknown id, and a duplicate


def _feast_rows(config: PlatformConfig, service: str, ids: list[str]) -> dict[str, list[Any]]:
    store = feature_store(config)
    creators = store.get_online_features(
        features=["content_metadata:item_creator_id"], entity_rows=[{"content_id": i} for i in ids]
    ).to_dict()["item_creator_id"]
    rows = [{"content_id": i, "creator_id": c or ""} for i, c in zip(ids, creators, strict=True)]
    return store.get_online_features(features=store.get_feature_service(service), entity_rows=rows).to_dict()  # type: ignore[no-any-return]


def _value(result: FeatureResult, ref: str, row: int) -> Any:
    column = result.column(ref)
    value = column.values[row]
    return value.item() if hasattr(value, "item") else value


@pytest.mark.parametrize("service", ["ranking_v1", "safety_v1"])
def test_values_equal_feasts_sdk(store_config: PlatformConfig, pipeline: Pipeline, service: str) -> None:
    ids = _ids(pipeline)
    result = asyncio.run(_plane(store_config).read(FeatureRequest(content_ids=ids, feature_service=service)))
    expected = _feast_rows(store_config, service, ids)
    assert result.content_ids == ids and result.feature_service == service
    assert result.version.startswith(f"{service}@")
    feature_day_end = partition_timestamp(pipeline.feature_day)
    present = 0
    for column in result.columns:
        wanted = expected[column.spec.name]
        for row, cid in enumerate(ids):
            status = column.statuses[row]
            if cid == "no-such-item":
                assert status == NOT_FOUND and column.micros[row] == 0, column.spec.ref
                continue
            assert status in (PRESENT, NULL_VALUE, NOT_FOUND), (column.spec.ref, cid, status)
            if status != PRESENT:  # no row in this view (audio of a podcast), or a stored null
                assert wanted[row] is None, (column.spec.ref, cid)
                continue
            present += 1
            ours = _value(result, column.spec.ref, row)
            assert type(ours) is type(wanted[row]) or isinstance(wanted[row], float), (column.spec.ref, ours)
            assert ours == wanted[row], (column.spec.ref, cid, ours, wanted[row])
            assert column.micros[row] == int(feature_day_end.timestamp() * 1_000_000)
    assert present > 0.6 * len(result.columns) * (len(ids) - 1)
    # The duplicate id gets the same values as its first occurrence.
    for column in result.columns:
        assert column.statuses[-1] == column.statuses[0]


def test_values_past_the_ttl_are_withheld(store_config: PlatformConfig, pipeline: Pipeline) -> None:
    ids = _ids(pipeline)[:3]
    event = partition_timestamp(pipeline.feature_day).timestamp()
    catalog = load_catalog(feature_store(store_config))
    ttl = catalog.views["content_engagement"].ttl_seconds
    assert ttl > 0
    request = FeatureRequest(content_ids=ids, feature_refs=["content_engagement:plays_7d"])
    at_edge = asyncio.run(_plane(store_config, enforce_ttl=True, now=event + ttl).read(request))
    past = asyncio.run(_plane(store_config, enforce_ttl=True, now=event + ttl + 1).read(request))
    assert set(at_edge.columns[0].statuses.tolist()) == {PRESENT}
    assert set(past.columns[0].statuses.tolist()) == {OUTSIDE_MAX_AGE}
    assert (past.columns[0].micros == at_edge.columns[0].micros).all()  # the event time still shows


def test_explicit_references_return_exactly_those_columns(
    store_config: PlatformConfig, pipeline: Pipeline
) -> None:
    ids = _ids(pipeline)[:5]
    refs = ["creator_profile:catalogue_size", "content_engagement:plays_7d", "content_metadata:language"]
    plane = _plane(store_config)
    explicit = asyncio.run(plane.read(FeatureRequest(content_ids=ids, feature_refs=refs)))
    service = asyncio.run(plane.read(FeatureRequest(content_ids=ids, feature_service="ranking_v1")))
    assert explicit.feature_names == refs and explicit.feature_service == ""
    for ref in refs:
        assert explicit.column(ref).statuses.tolist() == service.column(ref).statuses.tolist()
        assert [_value(explicit, ref, i) for i in range(5)] == [_value(service, ref, i) for i in range(5)]


def test_a_caller_supplied_creator_id_replaces_the_lookup(
    store_config: PlatformConfig, pipeline: Pipeline
) -> None:
    ids = _ids(pipeline)[:4]
    plane = _plane(store_config)
    looked_up = asyncio.run(plane.read(FeatureRequest(content_ids=ids, feature_service="ranking_v1")))
    creators = [str(_value(looked_up, "content_metadata:item_creator_id", i)) for i in range(4)]
    swapped = creators[1:] + creators[:1]
    supplied = asyncio.run(
        plane.read(
            FeatureRequest(
                content_ids=ids,
                feature_refs=["creator_profile:catalogue_size"],
                request_inputs={"creator_id": swapped},
            )
        )
    )
    expected = [_value(looked_up, "creator_profile:catalogue_size", (i + 1) % 4) for i in range(4)]
    assert [_value(supplied, "creator_profile:catalogue_size", i) for i in range(4)] == expected


def test_upload_features_equal_feasts_on_demand_view(
    store_config: PlatformConfig, pipeline: Pipeline
) -> None:
    titles = ["FREE MUSIC click http://x.io", "Quiet Evening", "", "🔥🔥 hits hits hits hits hits"]
    descriptions = ["", "a calm piece", "nothing", "hits " * 10]
    creators = ["cr00001", "cr00002", "no-such-creator", "cr00003"]
    ids = [f"upload-{i}" for i in range(4)]
    result = asyncio.run(
        _plane(store_config).read(
            FeatureRequest(
                content_ids=ids,
                feature_service="upload_safety_v1",
                request_inputs={
                    "upload_title": titles,
                    "upload_description": descriptions,
                    "creator_id": creators,
                },
            )
        )
    )
    store = feature_store(store_config)
    expected = store.get_online_features(
        features=store.get_feature_service("upload_safety_v1"),
        entity_rows=[
            {"creator_id": c, "upload_title": t, "upload_description": d}
            for c, t, d in zip(creators, titles, descriptions, strict=True)
        ],
    ).to_dict()
    for column in result.columns:
        for row in range(4):
            if column.statuses[row] == PRESENT:
                ours = _value(result, column.spec.ref, row)
                assert math.isclose(ours, expected[column.spec.name][row]), (column.spec.ref, row)
            else:
                assert column.spec.view == "creator_profile" and expected[column.spec.name][row] is None
    assert result.column("upload_text_features:upload_has_url").values.tolist() == [True, False, False, False]
    assert result.column("creator_profile:catalogue_size").statuses[2] == NOT_FOUND


@pytest.mark.parametrize(
    ("request_kwargs", "error", "message"),
    [
        ({"content_ids": []}, InvalidRequest, "must not be empty"),
        ({"content_ids": ["a"] * 1001}, InvalidRequest, "too many"),
        ({"content_ids": ["a", ""]}, InvalidRequest, "empty strings"),
        ({"content_ids": ["a"], "feature_service": "nope"}, NotFound, "unknown feature service"),
        ({"content_ids": ["a"], "feature_refs": ["no_colon"]}, InvalidRequest, "malformed"),
        ({"content_ids": ["a"], "feature_refs": ["content_engagement:nope"]}, NotFound, "unknown feature"),
        ({"content_ids": ["a"], "feature_refs": ["nope:plays_7d"]}, NotFound, "unknown feature view"),
        (
            {"content_ids": ["a"], "feature_refs": ["content_engagement:plays_7d"] * 2},
            InvalidRequest,
            "repeat",
        ),
        ({"content_ids": ["a"]}, InvalidRequest, "must be set"),
        (
            {
                "content_ids": ["a"],
                "feature_service": "ranking_v1",
                "feature_refs": ["content_engagement:plays_7d"],
            },
            InvalidRequest,
            "not both",
        ),
        (
            {"content_ids": ["a"], "feature_service": "upload_safety_v1"},
            InvalidRequest,
            "missing request inputs",
        ),
        (
            {
                "content_ids": ["a", "b"],
                "feature_service": "upload_safety_v1",
                "request_inputs": {"upload_title": ["x"], "upload_description": ["y", "z"]},
            },
            InvalidRequest,
            "1 values for 2",
        ),
        (
            {
                "content_ids": ["a"],
                "feature_service": "upload_safety_v1",
                "request_inputs": {"upload_title": [3.5], "upload_description": ["y"]},
            },
            InvalidRequest,
            "must be string",
        ),
        (
            {
                "content_ids": ["a"],
                "feature_service": "ranking_v1",
                "request_inputs": {"upload_title": ["x"]},
            },
            InvalidRequest,
            "unexpected request input",
        ),
    ],
)
def test_bad_requests_are_refused_with_the_reason(
    pipeline: Pipeline, request_kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        asyncio.run(_plane(pipeline.config).read(FeatureRequest(**request_kwargs)))


def test_the_catalog_refreshes_in_the_background_and_survives_a_failing_registry(pipeline: Pipeline) -> None:
    store = feature_store(pipeline.config)
    loads: list[str] = []

    def load() -> Catalog:
        loads.append("load")
        if len(loads) == 3:
            raise ConnectionError("registry down")
        return load_catalog(store)

    cache = CatalogCache(load, refresh_seconds=0.05)
    first = cache.current
    cache.start()
    try:
        deadline = datetime.now() + timedelta(seconds=10)
        while cache.refreshes < 2 and datetime.now() < deadline:
            asyncio.run(asyncio.sleep(0.02))
        assert cache.refreshes >= 2 and len(loads) >= 4
        assert cache.current is not first  # swapped for a fresh snapshot
        assert set(cache.current.services) == set(first.services)
    finally:
        cache.stop()
    answers: list[Catalog | Exception] = [first, ConnectionError("registry down")]

    def flaky() -> Catalog:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    failing = CatalogCache(flaky, 0)
    failing.refresh()
    assert failing.current is first and "registry down" in (failing.last_error or "")


# --- the value decoder, against protobuf's own parser --------------------------------------------


def _feast_bytes(value_type: ValueType, values: list[Any]) -> list[bytes]:
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType as FeastType

    feast_type = {
        ValueType.INT64: FeastType.INT64,
        ValueType.DOUBLE: FeastType.DOUBLE,
        ValueType.STRING: FeastType.STRING,
        ValueType.BOOL: FeastType.BOOL,
        ValueType.FLOAT_VECTOR: FeastType.FLOAT_LIST,
    }[value_type]
    return [p.SerializeToString() for p in python_values_to_proto_values(values, feast_type)]


_VALUES = {
    ValueType.INT64: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ValueType.DOUBLE: st.floats(allow_nan=False),
    ValueType.STRING: st.text(max_size=300),
    ValueType.BOOL: st.booleans(),
    ValueType.FLOAT_VECTOR: st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=8),
}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_decoder_equals_protobufs_parser(data: st.DataObject) -> None:
    types = data.draw(st.lists(st.sampled_from(list(_VALUES)), min_size=1, max_size=5))
    raws, founds, expected = [], [], []
    for value_type in types:
        values = data.draw(st.lists(_VALUES[value_type], min_size=1, max_size=6))
        encoded: list[bytes | None] = list(_feast_bytes(value_type, values))
        found = np.ones(len(values), dtype=bool)
        # Knock out some values: a missing row, and a stored null.
        if len(values) > 2:
            found[0] = False
            encoded[0] = None
            encoded[1] = b""
        raws.append(encoded)
        founds.append(found)
        expected.append(values)
    for value_type, column, values in zip(types, decode_columns(types, raws, founds), expected, strict=True):
        for i, value in enumerate(values):
            if len(values) > 2 and i == 0:
                assert column.statuses[i] == NOT_FOUND
            elif len(values) > 2 and i == 1:
                assert column.statuses[i] == NULL_VALUE
            else:
                assert column.statuses[i] == PRESENT
                got = column.values[i]
                got = got.item() if hasattr(got, "item") else got
                if value_type == ValueType.FLOAT_VECTOR:
                    assert got == pytest.approx(value, rel=1e-6)
                else:
                    assert got == value and type(got) is type(value), (value_type, value, got)
