"""End to end through a real gRPC client against Ray Serve over the pipeline's online store."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import torch
from content_signals_client import SignalsClient, value_of
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from content_signals.definitions import (
    CONTENT_AUDIO,
    CONTENT_ENGAGEMENT,
    CONTENT_METADATA,
    CREATOR_PROFILE,
    SIGNAL_TABLES,
    TEXT_SAFETY_LEXICON,
    SignalTable,
)
from content_signals.feature_repo.on_demand import INPUTS, OUTPUTS, VIEW_NAME
from content_signals.models.engagement import MODEL_NAME
from content_signals.models.networks import load_model
from content_signals.partitions import partition_timestamp

pytestmark = pytest.mark.slow
KNOWN = ["c000000", "c000005", "c000042"]
SERVICE = "content_signals.v1.ContentSignalsService"
VALUE_TYPES = {
    "int64": pb.VALUE_TYPE_INT64,
    "double": pb.VALUE_TYPE_DOUBLE,
    "string": pb.VALUE_TYPE_STRING,
    "bool": pb.VALUE_TYPE_BOOL,
    "float_vector": pb.VALUE_TYPE_FLOAT_VECTOR,
}
# Upload texts that exercise every on-demand signal: caps, URLs, emoji, repetition, non-ASCII, empty.
UPLOADS = [
    ("  Hello World ", "abc"),
    ("FREE BEATS free \N{FIRE}", "beats beats beats beats beats beats beats beats visit www.beats.example "),
    ("ÉCOLE école", "see HTTPS://x.example"),
    ("", ""),
]


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[SignalsClient]:
    # A generous deadline: the first calls also warm up the freshly started replicas.
    with SignalsClient(server, timeout_s=30.0) as signals_client:
        yield signals_client


@pytest.fixture(scope="module")
def stub(server: str) -> Iterator[pb_grpc.ContentSignalsServiceStub]:
    """The generated stub, for requests the typed client refuses to send."""
    with grpc.insecure_channel(server) as channel:
        yield pb_grpc.ContentSignalsServiceStub(channel)


def _error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    return _error(call).code()


def _refs(*tables: SignalTable) -> list[str]:
    return [f"{table.name}:{name}" for table in tables for name in table.signal_names]


def _micros(pipeline: Any) -> int:
    return int(partition_timestamp(pipeline.feature_day).timestamp() * 1_000_000)


def _rows(spark: Any, pipeline: Any, table: str, key: str) -> dict[str, dict[str, Any]]:
    partition = pipeline.layout.signal_partition(table, pipeline.feature_day)
    return {row[key]: row.asDict() for row in spark.read.parquet(str(partition)).collect()}


def _ranking_with(client: SignalsClient, inputs: dict[str, list[str]]) -> Callable[[], object]:
    return lambda: client.get_online_features(
        ["c000000"], feature_service="ranking_v1", request_inputs=inputs
    )


def test_health_answers_serving(server: str) -> None:
    with grpc.insecure_channel(server) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert _code(lambda: stub.Check(health_pb2.HealthCheckRequest(service="nope"))) == (
            grpc.StatusCode.NOT_FOUND
        )


def test_features_equal_the_job_output(client: SignalsClient, pipeline: Any, spark: Any) -> None:
    tables = (CONTENT_ENGAGEMENT, CONTENT_METADATA, CONTENT_AUDIO, CREATOR_PROFILE)
    expected: dict[str, dict[str, object]] = {}
    for table in tables[:3]:
        for content_id, row in _rows(spark, pipeline, table.name, "content_id").items():
            expected.setdefault(content_id, {}).update(
                {f"{table.name}:{name}": row[name] for name in table.signal_names}
            )
    # The creator's features come through each item's item_creator_id.
    creators = _rows(spark, pipeline, CREATOR_PROFILE.name, "creator_id")
    for row in expected.values():
        creator = creators[row["content_metadata:item_creator_id"]]  # type: ignore[index]
        row.update({f"{CREATOR_PROFILE.name}:{name}": creator[name] for name in CREATOR_PROFILE.signal_names})
    signal_types = {f"{t.name}:{s.name}": VALUE_TYPES[s.dtype] for t in tables for s in t.signals}

    response = client.get_online_features(KNOWN, feature_service="ranking_v1")
    assert response.feature_service == "ranking_v1"
    assert response.feature_service_version.startswith("ranking_v1@")
    assert response.feature_names == _refs(*tables)
    assert [c.name for c in response.response.columns] == response.feature_names
    assert response.content_ids == KNOWN
    audio_only = set(_refs(CONTENT_AUDIO))
    stamp = _micros(pipeline)
    checked = 0
    for name in response.feature_names:
        column = response.column(name)
        assert column.type == signal_types[name], name
        for i, content_id in enumerate(KNOWN):
            job_row = expected[content_id]
            if name not in job_row:  # not a track: no audio partition row
                assert name in audio_only
                assert column.statuses[i] == pb.FEATURE_STATUS_NOT_FOUND
                assert column.event_timestamps_us[i] == 0
                assert value_of(column, i) is None
                continue
            wanted = job_row[name]
            status = pb.FEATURE_STATUS_PRESENT if wanted is not None else pb.FEATURE_STATUS_NULL_VALUE
            assert column.statuses[i] == status, (content_id, name)
            assert value_of(column, i) == wanted, (content_id, name)
            assert column.event_timestamps_us[i] == stamp, (content_id, name)
            checked += 1
    assert checked >= len(KNOWN) * (len(response.feature_names) - len(audio_only))
    # The typed accessors agree with the columns.
    rows = response.to_dicts()
    assert [r["content_id"] for r in rows] == KNOWN
    for item in rows:
        wanted_row = {n: expected[item["content_id"]].get(n) for n in response.feature_names}
        assert item == {"content_id": item["content_id"], **wanted_row}


def test_an_unknown_id_is_not_found_and_keeps_its_place(client: SignalsClient) -> None:
    ids = ["c000000", "no-such-item", "c000000"]
    response = client.get_online_features(ids, feature_service="ranking_v1")
    assert response.content_ids == ids
    for column in response.response.columns:
        assert column.statuses[1] == pb.FEATURE_STATUS_NOT_FOUND, column.name
        assert column.event_timestamps_us[1] == 0
        assert value_of(column, 1) is None
        assert column.statuses[0] == column.statuses[2]
        assert column.event_timestamps_us[0] == column.event_timestamps_us[2]
        assert value_of(column, 0) == value_of(column, 2)
        if not column.name.startswith(f"{CONTENT_AUDIO.name}:"):  # c000000 is found (audio: tracks only)
            assert column.statuses[0] != pb.FEATURE_STATUS_NOT_FOUND and column.event_timestamps_us[0] > 0
    first, missing, again = response.to_dicts()
    assert first == again and first["content_engagement:plays_7d"] is not None
    assert missing == {"content_id": "no-such-item", **dict.fromkeys(response.feature_names)}


def test_bad_requests_get_the_right_status_codes(
    client: SignalsClient, stub: pb_grpc.ContentSignalsServiceStub, pipeline: Any
) -> None:
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    limit = pipeline.config.serving.max_entities_per_request

    def ranking(ids: list[str]) -> Callable[[], object]:
        return lambda: client.get_online_features(ids, feature_service="ranking_v1")

    assert _code(ranking([])) == invalid
    too_many = [f"c{i:06d}" for i in range(limit + 1)]
    assert _code(ranking(too_many)) == invalid
    assert (
        client.get_online_features(too_many[:limit], feature_service="ranking_v1").content_ids
        == (too_many[:limit])
    )
    assert _code(ranking(["a", ""])) == invalid

    # The typed client refuses these before sending; the server must refuse them too.
    with pytest.raises(ValueError):
        client.get_online_features(["c000000"], feature_service="ranking_v1", feature_refs=["a:b"])
    both = pb.GetOnlineFeaturesRequest(
        feature_service="ranking_v1", feature_refs=["content_engagement:plays_7d"], content_ids=["c000000"]
    )
    assert _code(lambda: stub.GetOnlineFeatures(both, timeout=30)) == invalid
    neither = pb.GetOnlineFeaturesRequest(content_ids=["c000000"])
    assert _code(lambda: stub.GetOnlineFeatures(neither, timeout=30)) == invalid

    def refs(*names: str) -> Callable[[], object]:
        return lambda: client.get_online_features(["c000000"], feature_refs=list(names))

    error = _error(refs("nocolon"))
    assert error.code() == invalid and "nocolon" in error.details()
    assert _code(refs("content_engagement:")) == invalid
    assert _code(refs("content_engagement:plays_7d", "content_engagement:plays_7d")) == invalid
    assert _code(lambda: client.get_online_features(["c000000"], feature_service="no_such_service")) == (
        not_found
    )
    error = _error(refs("content_engagement:no_such_feature"))
    assert error.code() == not_found and "no_such_feature" in error.details()
    assert _code(refs("no_such_view:plays_7d")) == not_found

    error = _error(lambda: client.score("no_such_model", ["c000000"]))
    assert error.code() == not_found and "no_such_model" in error.details()
    error = _error(lambda: client.score(MODEL_NAME, ["c000000"], model_version="v99"))
    assert error.code() == not_found and "v99" in error.details()
    assert _code(lambda: client.score(MODEL_NAME, [])) == invalid
    assert _code(lambda: client.score(MODEL_NAME, ["a", ""])) == invalid
    assert _code(lambda: client.score(MODEL_NAME, too_many)) == invalid
    assert _code(lambda: stub.Score(pb.ScoreRequest(content_ids=["c000000"]), timeout=30)) == invalid
    # The engagement model's feature service takes no request-time text.
    assert _code(lambda: client.score(MODEL_NAME, ["c000000"], request_inputs={"upload_title": ["x"]})) == (
        invalid
    )


def test_scores_match_the_trained_model_on_the_same_features(client: SignalsClient, pipeline: Any) -> None:
    ids = [*KNOWN, "no-such-item"]
    response = client.score(MODEL_NAME, ids)
    assert response.model == MODEL_NAME and response.model_version == "v1"
    assert response.content_ids == ids
    assert all(0.0 <= s.score <= 1.0 for s in response.response.scores[:3])
    card, network = load_model(pipeline.layout.model_dir(MODEL_NAME) / "v1")

    features = client.get_online_features(KNOWN, feature_service=card.feature_service)
    refs = []
    for name in card.features:
        [ref] = [r for r in features.feature_names if r.split(":", 1)[1] == name]
        refs.append(ref)
    raw = np.array(
        [[np.nan if row[ref] is None else float(row[ref]) for ref in refs] for row in features.to_dicts()]
    )
    # A stored null is imputed just like a missing item; an unknown item has every input imputed.
    expected_missing = [*np.isnan(raw).sum(axis=1).tolist(), len(card.features)]
    assert [s.missing_features for s in response.response.scores] == expected_missing
    assert [s.found for s in response.response.scores] == [True, True, True, False]
    standardised = np.nan_to_num((raw - card.feature_means) / np.array(card.feature_stds), nan=0.0)
    with torch.no_grad():
        expected = torch.sigmoid(network(torch.tensor(standardised, dtype=torch.float32))).numpy()
    np.testing.assert_allclose(
        [s.score for s in response.response.scores[:3]], expected, rtol=1e-5, atol=1e-6
    )
    # The unknown item would rest entirely on the training means: it gets no score (NaN on the
    # wire, None from the client) and no decision, instead of the network's answer to zeros.
    unknown = response.response.scores[3]
    assert math.isnan(unknown.score) and unknown.decision == pb.DECISION_UNSPECIFIED
    assert unknown.decision_threshold == 0.0 and response.to_dicts()[3]["score"] is None

    # The engagement model has no decision policy: no decisions, no thresholds.
    assert card.review_threshold is None and response.policy is None
    assert all(row["decision"] is None and row["decision_threshold"] is None for row in response.to_dicts())
    assert all(s.decision == pb.DECISION_UNSPECIFIED for s in response.response.scores)
    # Naming the served version explicitly scores the same.
    pinned = client.score(MODEL_NAME, ids, model_version="v1")
    assert pinned.model_version == "v1"
    np.testing.assert_allclose(
        [s.score for s in pinned.response.scores], [s.score for s in response.response.scores], rtol=1e-6
    )  # (NaN where NaN)


def test_server_reflection_lists_the_service(server: str) -> None:
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    with grpc.insecure_channel(server) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        service = DescriptorPool(database).FindServiceByName(SERVICE)
        methods = {method.name: method.output_type.full_name for method in service.methods}
    assert {SERVICE, "grpc.health.v1.Health"} <= services
    assert methods == {
        "GetOnlineFeatures": "content_signals.v1.GetOnlineFeaturesResponse",
        "Score": "content_signals.v1.ScoreResponse",
        "ListFeatureServices": "content_signals.v1.ListFeatureServicesResponse",
        "ListModels": "content_signals.v1.ListModelsResponse",
        "SimilarContent": "content_signals.v1.SimilarContentResponse",
    }


def test_a_service_spanning_several_views_returns_each_views_values(
    client: SignalsClient, pipeline: Any, spark: Any
) -> None:
    safety = _rows(spark, pipeline, TEXT_SAFETY_LEXICON.name, "content_id")
    metadata = _rows(spark, pipeline, CONTENT_METADATA.name, "content_id")
    creators = _rows(spark, pipeline, CREATOR_PROFILE.name, "creator_id")
    response = client.get_online_features(KNOWN, feature_service="safety_v1")
    metadata_names = ["is_explicit", "metadata_completeness", "title_length", "title_caps_ratio", "has_url"]
    assert response.feature_names == [
        *_refs(TEXT_SAFETY_LEXICON),
        *(f"content_metadata:{name}" for name in metadata_names),
        *_refs(CREATOR_PROFILE),
    ]
    assert response.feature_service_version.startswith("safety_v1@")
    for row in response.to_dicts():
        item = metadata[row["content_id"]]
        expected = {
            **{f"text_safety_lexicon:{k}": v for k, v in safety[row["content_id"]].items()},
            **{f"content_metadata:{k}": v for k, v in item.items()},
            **{f"creator_profile:{k}": v for k, v in creators[item["item_creator_id"]].items()},
        }
        assert row == {"content_id": row["content_id"], **{n: expected[n] for n in response.feature_names}}


def test_list_feature_services_describes_each_service(client: SignalsClient) -> None:
    services = {info.name: info for info in client.list_feature_services()}
    assert sorted(services) == [
        "ranking_v1",
        "ranking_v2",
        "safety_v1",
        "safety_v2",
        "safety_v3",
        "similarity_v1",
        "upload_safety_v1",
    ]
    tables = SIGNAL_TABLES.values()
    ttl = {t.name: int(t.ttl.total_seconds()) for t in tables}
    types = {f"{t.name}:{s.name}": VALUE_TYPES[s.dtype] for t in tables for s in t.signals} | {
        f"{VIEW_NAME}:{o.name}": VALUE_TYPES[o.dtype] for o in OUTPUTS
    }
    for name, info in services.items():
        assert info.version.startswith(f"{name}@") and len(info.version) == len(name) + 9, info.version
        for feature in info.features:
            view = feature.name.split(":", 1)[0]
            assert feature.type == types[feature.name], feature.name
            assert feature.max_age_seconds == (0 if view == VIEW_NAME else ttl[view]), feature.name
        # The same names, in the same order, as a read of the service returns; the same version.
        read = client.get_online_features(
            ["c000000"],
            feature_service=name,
            request_inputs={k: ["x"] for k in info.request_inputs},
        )
        assert [f.name for f in info.features] == read.feature_names
        assert info.version == read.feature_service_version
    assert len({info.version for info in services.values()}) == len(services)
    assert [f.name for f in services["ranking_v1"].features] == _refs(
        CONTENT_ENGAGEMENT, CONTENT_METADATA, CONTENT_AUDIO, CREATOR_PROFILE
    )
    assert dict(services["ranking_v1"].request_inputs) == {}
    assert dict(services["safety_v1"].request_inputs) == {}
    upload = services["upload_safety_v1"]
    assert dict(upload.request_inputs) == {
        "upload_title": pb.VALUE_TYPE_STRING,
        "upload_description": pb.VALUE_TYPE_STRING,
    }
    assert [f.name for f in upload.features] == [
        *(f"{VIEW_NAME}:{o.name}" for o in OUTPUTS),
        *_refs(CREATOR_PROFILE),
    ]


def test_list_models_lists_each_model_with_its_versions(client: SignalsClient, pipeline: Any) -> None:
    card, _ = load_model(pipeline.layout.model_dir(MODEL_NAME) / "v1")
    models = {m.name: m for m in client.list_models()}
    assert sorted(models) == [MODEL_NAME, "safety"]
    model = models[MODEL_NAME]
    assert model.version == "v1" and list(model.versions) == ["v1"]
    assert model.feature_service == card.feature_service == "ranking_v1"
    assert not model.HasField("policy")  # the engagement model only scores
    safety, _ = load_model(pipeline.layout.model_dir("safety") / "v1")
    assert models["safety"].version == "v1" and models["safety"].HasField("policy")
    assert models["safety"].policy.block_threshold == pytest.approx(safety.block_threshold)


def test_explicit_feature_refs_return_exactly_those_columns(client: SignalsClient) -> None:
    ids = [*KNOWN, "no-such-item"]
    # Out of the service's order, across views, and one keyed by the creator (found through the item).
    refs = [
        "creator_profile:catalogue_size",
        "content_engagement:plays_7d",
        "content_metadata:title_length",
        "content_audio:mood_quadrant",
    ]
    response = client.get_online_features(ids, feature_refs=refs)
    assert response.feature_service == ""
    assert response.feature_names == refs
    assert [c.name for c in response.response.columns] == refs
    assert response.content_ids == ids
    service = client.get_online_features(ids, feature_service="ranking_v1")
    for ref in refs:
        mine, theirs = response.column(ref), service.column(ref)
        assert list(mine.statuses) == list(theirs.statuses), ref
        assert list(mine.event_timestamps_us) == list(theirs.event_timestamps_us), ref
        assert response.values(ref) == service.values(ref), ref
    assert response.values("content_engagement:plays_7d")[:3] == [
        service.value(i, "content_engagement:plays_7d") for i in KNOWN
    ]
    assert all(v is not None for v in response.values("creator_profile:catalogue_size")[:3])
    # The explicit version names the list, not a service: another list gets another version.
    other = client.get_online_features(ids, feature_refs=refs[::-1])
    assert other.feature_names == refs[::-1]
    assert other.feature_service_version != response.feature_service_version


def test_upload_safety_computes_request_time_features_like_feast(
    client: SignalsClient, pipeline: Any
) -> None:
    from content_signals.feature_repo.repo import feature_store

    creator = client.get_online_features(
        ["c000000"], feature_refs=["content_metadata:item_creator_id"]
    ).value("c000000", "content_metadata:item_creator_id")
    assert creator
    ids = [f"upload-{i}" for i in range(len(UPLOADS))]
    inputs: dict[str, list[str]] = {
        "upload_title": [title for title, _ in UPLOADS],
        "upload_description": [description for _, description in UPLOADS],
        # A creator known online for half of the uploads, an unknown one for the rest.
        "creator_id": [creator if i % 2 == 0 else "no-such-creator" for i in range(len(UPLOADS))],
    }
    before = time.time_ns() // 1_000
    response = client.get_online_features(ids, feature_service="upload_safety_v1", request_inputs=inputs)
    after = time.time_ns() // 1_000
    assert response.content_ids == ids
    on_demand = [f"{VIEW_NAME}:{o.name}" for o in OUTPUTS]
    assert response.feature_names == [*on_demand, *_refs(CREATOR_PROFILE)]
    assert response.feature_service_version.startswith("upload_safety_v1@")

    store = feature_store(pipeline.config)
    sdk = store.get_online_features(
        features=store.get_feature_service("upload_safety_v1"),
        entity_rows=[{name: values[i] for name, values in inputs.items()} for i in range(len(UPLOADS))],
        full_feature_names=True,
    ).to_dict()
    for ref in response.feature_names:
        expected = sdk[ref.replace(":", "__")]
        assert response.values(ref) == pytest.approx(expected), ref
    for ref in on_demand:
        column = response.column(ref)
        assert list(column.statuses) == [pb.FEATURE_STATUS_PRESENT] * len(ids), ref
        assert all(before <= t <= after for t in column.event_timestamps_us), ref
    for ref in _refs(CREATOR_PROFILE):
        statuses = list(response.column(ref).statuses)
        assert statuses[0::2] == [pb.FEATURE_STATUS_PRESENT] * len(statuses[0::2]), ref
        assert statuses[1::2] == [pb.FEATURE_STATUS_NOT_FOUND] * len(statuses[1::2]), ref
    # The texts' signals show what they hold, not defaults.
    rows = response.to_dicts()
    assert rows[0][f"{VIEW_NAME}:upload_title_length"] == len("Hello World")
    assert rows[1][f"{VIEW_NAME}:upload_has_emoji"] is True
    assert rows[1][f"{VIEW_NAME}:upload_keyword_stuffing_score"] > 0
    assert rows[2][f"{VIEW_NAME}:upload_has_url"] is True
    assert rows[3][f"{VIEW_NAME}:upload_title_length"] == 0

    # Without creator_id, a catalogued item's creator is found through the item; an upload has none.
    texts = {name: inputs[name][:2] for name in INPUTS}
    mixed = client.get_online_features(
        ["c000000", "upload-0"], feature_service="upload_safety_v1", request_inputs=texts
    )
    ranking = client.get_online_features(["c000000"], feature_service="ranking_v1")
    for ref in _refs(CREATOR_PROFILE):
        assert mixed.values(ref) == [ranking.value("c000000", ref), None], ref
    assert mixed.values(on_demand[0]) == response.values(on_demand[0])[:2]


def test_bad_request_inputs_are_invalid_arguments(
    client: SignalsClient, stub: pb_grpc.ContentSignalsServiceStub
) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    ids = ["upload-0", "upload-1"]

    def request(**inputs: pb.RequestInput) -> Callable[[], object]:
        message = pb.GetOnlineFeaturesRequest(
            feature_service="upload_safety_v1", content_ids=ids, request_inputs=inputs
        )
        return lambda: stub.GetOnlineFeatures(message, timeout=30)

    title = pb.RequestInput(string_values=["a", "b"])
    description = pb.RequestInput(string_values=["c", "d"])
    request(upload_title=title, upload_description=description)()  # the well-formed request passes
    # Wrong length (the typed client refuses to send it).
    short = pb.RequestInput(string_values=["c"])
    assert _code(request(upload_title=title, upload_description=short)) == invalid
    assert _code(request(upload_title=title, upload_description=pb.RequestInput())) == invalid
    # Wrong type.
    assert (
        _code(request(upload_title=title, upload_description=pb.RequestInput(int64_values=[1, 2]))) == invalid
    )
    numbers = pb.RequestInput(double_values=[1.0, 2.0])
    assert _code(request(upload_title=numbers, upload_description=description)) == invalid
    flags = pb.RequestInput(bool_values=[True, False])
    assert _code(request(upload_title=title, upload_description=description, creator_id=flags)) == invalid
    # Two value lists in one input, a missing input, an unknown input.
    both = pb.RequestInput(string_values=["c", "d"], bool_values=[True, False])
    assert _code(request(upload_title=title, upload_description=both)) == invalid
    assert _code(request(upload_title=title)) == invalid
    assert _code(request(upload_title=title, upload_description=description, upload_tags=title)) == invalid
    # Through the typed client: values of the wrong Python type travel as their own list and fail.
    error = _error(
        lambda: client.get_online_features(
            ids,
            feature_service="upload_safety_v1",
            request_inputs={"upload_title": [1, 2], "upload_description": ["c", "d"]},
        )
    )
    assert error.code() == invalid and "upload_title" in error.details()
    with pytest.raises(ValueError):
        client.get_online_features(
            ids,
            feature_service="upload_safety_v1",
            request_inputs={"upload_title": ["a"], "upload_description": ["c", "d"]},
        )
    # A service without request-time features takes no text.
    text = {"upload_title": ["x"]}
    assert _code(_ranking_with(client, text)) == invalid


def test_similar_content_through_the_deployed_app(client: SignalsClient, pipeline: Any, spark: Any) -> None:
    """The daily run built the day's vector index after content_embedding published; the ingress
    serves it, and request-time text goes through the app's TextEncoder deployment."""
    from content_signals.similarity.index import IndexManifest, newest_index
    from content_signals.text import text_of

    folder = newest_index(pipeline.layout, "content_embedding")
    assert folder is not None and folder.name == f"date={pipeline.feature_day.isoformat()}"
    manifest = IndexManifest.read(folder)
    result = client.similar_content(KNOWN[0], k=5)
    assert result.index_version == manifest.version and result.query_content_id == KNOWN[0]
    assert len(result.items) == 5 and KNOWN[0] not in [item.content_id for item in result.items]
    similarities = [item.similarity for item in result.items]
    assert similarities == sorted(similarities, reverse=True)
    # The same item's text, embedded at request time, finds the item itself first.
    content = spark.read.parquet(str(pipeline.layout.content_path)).where(f"content_id = '{KNOWN[0]}'")
    row = content.select("title", "description").first()
    by_text = client.similar_content(text=text_of(row["title"], row["description"]), k=6)
    assert by_text.items[0].content_id == KNOWN[0] and by_text.items[0].similarity > 0.999
    assert [i.content_id for i in by_text.items[1:]] == [i.content_id for i in result.items]
    # Filters reach the deployed app too (blocked decisions read from its online store).
    filtered = client.similar_content(KNOWN[0], k=5, content_types=["episode"], exclude_blocked=True)
    assert {item.content_type for item in filtered.items} <= {"episode"}
