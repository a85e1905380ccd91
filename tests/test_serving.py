"""End to end through a real gRPC client against Ray Serve over the pipeline's online store."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc

from content_signals.definitions import CONTENT_AUDIO, CONTENT_ENGAGEMENT, CONTENT_METADATA, CREATOR_PROFILE
from content_signals.models import load_model
from content_signals.training import MODEL_NAME
from jobs.schema import partition_timestamp
from serving.api.content_signals.v1 import content_signals_pb2 as pb
from serving.client import SignalsClient, value_of

pytestmark = pytest.mark.slow
KNOWN = ["c000000", "c000005", "c000042"]


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    with SignalsClient(server) as signals_client:
        yield signals_client


def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code()  # type: ignore[no-any-return]


def test_health_answers_serving(server) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(server) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service="content_signals.v1.ContentSignalsService"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert _code(lambda: stub.Check(health_pb2.HealthCheckRequest(service="nope"))) == (
            grpc.StatusCode.NOT_FOUND
        )


def test_features_equal_the_job_output(client, pipeline, spark) -> None:  # type: ignore[no-untyped-def]
    tables = (CONTENT_ENGAGEMENT, CONTENT_METADATA, CONTENT_AUDIO, CREATOR_PROFILE)
    expected: dict[str, dict[str, object]] = {}
    for table in tables[:3]:
        partition = pipeline.layout.signal_partition(table.name, pipeline.feature_day)
        for row in spark.read.parquet(str(partition)).collect():
            expected.setdefault(row["content_id"], {}).update(row.asDict())
    # The creator's features come through each item's item_creator_id.
    partition = pipeline.layout.signal_partition(CREATOR_PROFILE.name, pipeline.feature_day)
    creators = {row["creator_id"]: row.asDict() for row in spark.read.parquet(str(partition)).collect()}
    for row in expected.values():
        row.update(
            {k: v for k, v in creators[row["item_creator_id"]].items() if k in CREATOR_PROFILE.signal_names}
        )
    response = client.get_online_features("ranking_v1", KNOWN)
    assert response.feature_service == "ranking_v1"
    assert list(response.feature_names) == [name for table in tables for name in table.signal_names]
    assert [e.content_id for e in response.entities] == KNOWN
    audio_only = set(CONTENT_AUDIO.signal_names)
    for entity in response.entities:
        row = expected[entity.content_id]
        for name, value in zip(response.feature_names, entity.values, strict=True):
            if name not in row:  # not a track: no audio partition row
                assert name in audio_only and value.status == pb.FEATURE_STATUS_NOT_FOUND
                continue
            assert value.status == pb.FEATURE_STATUS_PRESENT
            assert value_of(value) == row[name], (entity.content_id, name)
            assert value.event_timestamp.ToDatetime() == partition_timestamp(pipeline.feature_day).replace(
                tzinfo=None
            )


def test_an_unknown_id_is_not_found_and_keeps_its_place(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get_online_features("ranking_v1", ["c000000", "no-such-item", "c000000"])
    assert [e.content_id for e in response.entities] == ["c000000", "no-such-item", "c000000"]
    missing = response.entities[1]
    assert all(v.status == pb.FEATURE_STATUS_NOT_FOUND for v in missing.values)
    assert all(v.WhichOneof("kind") is None for v in missing.values)
    assert response.entities[0] == response.entities[2]


def test_bad_requests_get_the_right_status_codes(client, pipeline) -> None:  # type: ignore[no-untyped-def]
    limit = pipeline.config.serving.max_entities_per_request
    assert _code(lambda: client.get_online_features("ranking_v1", [])) == grpc.StatusCode.INVALID_ARGUMENT
    too_many = [f"c{i:06d}" for i in range(limit + 1)]
    assert _code(lambda: client.get_online_features("ranking_v1", too_many)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert _code(lambda: client.get_online_features("ranking_v1", ["a", ""])) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert _code(lambda: client.get_online_features("no_such_service", ["c000000"])) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert _code(lambda: client.score("no_such_model", ["c000000"])) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: client.score(MODEL_NAME, [])) == grpc.StatusCode.INVALID_ARGUMENT


def test_scores_match_the_trained_model_on_the_same_features(client, pipeline) -> None:  # type: ignore[no-untyped-def]
    ids = [*KNOWN, "no-such-item"]
    response = client.score(MODEL_NAME, ids)
    assert response.model == MODEL_NAME and response.model_version == "v1"
    assert [s.content_id for s in response.scores] == ids
    assert all(0.0 <= s.score <= 1.0 and not math.isnan(s.score) for s in response.scores)
    card, network = load_model(pipeline.layout.model_dir(MODEL_NAME) / "v1")

    features = client.get_online_features(card.feature_service, KNOWN)
    columns = [list(features.feature_names).index(name) for name in card.features]
    raw = np.array(
        [[np.nan if value_of(e.values[c]) is None else float(value_of(e.values[c])) for c in columns]
         for e in features.entities]
    )  # fmt: skip
    # A stored null is imputed just like a missing item; an unknown item has every input imputed.
    expected_missing = [*np.isnan(raw).sum(axis=1).tolist(), len(card.features)]
    assert [s.missing_features for s in response.scores] == expected_missing
    standardised = np.nan_to_num((raw - card.feature_means) / np.array(card.feature_stds), nan=0.0)
    with torch.no_grad():
        expected = torch.sigmoid(network(torch.tensor(standardised, dtype=torch.float32))).numpy()
    np.testing.assert_allclose([s.score for s in response.scores[:3]], expected, rtol=1e-5, atol=1e-6)


def test_server_reflection_lists_the_service(server) -> None:  # type: ignore[no-untyped-def]
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    with grpc.insecure_channel(server) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert "content_signals.v1.ContentSignalsService" in services


def test_a_service_spanning_several_views_returns_each_views_values(client, pipeline, spark) -> None:  # type: ignore[no-untyped-def]
    layout, day = pipeline.layout, pipeline.feature_day
    safety = {
        r["content_id"]: r
        for r in spark.read.parquet(str(layout.signal_partition("text_safety_lexicon", day))).collect()
    }
    metadata = {
        r["content_id"]: r
        for r in spark.read.parquet(str(layout.signal_partition("content_metadata", day))).collect()
    }
    response = client.get_online_features("safety_v1", KNOWN)
    assert list(response.feature_names) == [
        "text_word_count", "lexicon_term_count", "lexicon_term_rate", "title_has_lexicon_term",
        "is_explicit", "metadata_completeness", "title_length", "title_caps_ratio", "has_url",
        *CREATOR_PROFILE.signal_names,
    ]  # fmt: skip
    creators = {
        r["creator_id"]: r.asDict()
        for r in spark.read.parquet(str(layout.signal_partition("creator_profile", day))).collect()
    }
    for entity in response.entities:
        values = {n: value_of(v) for n, v in zip(response.feature_names, entity.values, strict=True)}
        item = metadata[entity.content_id].asDict()
        expected = {**safety[entity.content_id].asDict(), **item, **creators[item["item_creator_id"]]}
        assert values == {name: expected[name] for name in response.feature_names}
