"""The client's decoding of responses (dicts, Arrow, pandas, scores, list calls): ``None``/null
wherever a status is not PRESENT, and a malformed response fails instead of shifting values."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from content_signals_client import (
    MalformedResponseError,
    OnlineFeatures,
    Policy,
    Scores,
    SignalsClient,
    value_of,
)
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb

from tests.scripted_server import FEATURES, IDS, NOT_FOUND, PRESENT, Server, scripted_server


@pytest.fixture
def served() -> Iterator[Server]:
    with scripted_server() as running:
        yield running


def test_features_to_dicts_decode_every_type_and_status(served: Server) -> None:
    with SignalsClient(served.target) as client:
        features = client.get_online_features(IDS, feature_service="ranking_v1")
    assert features.feature_service == "ranking_v1"
    assert features.feature_service_version == "ranking_v1@1a2b3c4d"
    assert features.feature_names == list(FEATURES.feature_names)
    assert features.content_ids == IDS
    assert features.to_dicts() == [
        {
            "content_id": "c1",
            "engagement:plays_7d": 12,
            "engagement:skip_rate": 0.25,
            "metadata:language": "en",
            "metadata:explicit": False,
            "audio:embedding": [0.5, -1.0, 2.0],
        },
        {
            "content_id": "c2",
            "engagement:plays_7d": None,
            "engagement:skip_rate": None,
            "metadata:language": None,
            "metadata:explicit": None,
            "audio:embedding": None,
        },
        {
            "content_id": "c3",
            "engagement:plays_7d": 0,
            "engagement:skip_rate": None,  # OUTSIDE_MAX_AGE
            "metadata:language": None,  # NULL_VALUE
            "metadata:explicit": True,
            "audio:embedding": None,
        },
    ]
    assert features.statuses()["engagement:skip_rate"] == ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"]
    assert features.statuses()["metadata:language"] == ["PRESENT", "NOT_FOUND", "NULL_VALUE"]
    assert features.value("c3", "engagement:plays_7d") == 0
    assert features.value("c2", "engagement:plays_7d") is None
    assert features.value("c1", "metadata:explicit") is False
    assert features.values("metadata:explicit") == [False, None, True]
    with pytest.raises(KeyError):
        features.value("nope", "engagement:plays_7d")
    with pytest.raises(KeyError):
        features.value("c1", "engagement:nope")


def test_value_of_reads_one_cell_by_status() -> None:
    columns = {column.name: column for column in FEATURES.columns}
    assert value_of(columns["engagement:plays_7d"], 2) == 0
    assert value_of(columns["engagement:plays_7d"], 1) is None
    assert value_of(columns["audio:embedding"], 0) == [0.5, -1.0, 2.0]
    assert value_of(columns["metadata:language"], 2) is None


def test_features_to_arrow_has_typed_columns_with_nulls() -> None:
    table = OnlineFeatures(FEATURES).to_arrow(include_event_timestamps=True)
    assert table.column_names[:3] == [
        "content_id",
        "engagement:plays_7d",
        "engagement:plays_7d__event_timestamp",
    ]
    schema = table.schema
    assert schema.field("engagement:plays_7d").type == pa.int64()
    assert schema.field("engagement:skip_rate").type == pa.float64()
    assert schema.field("metadata:language").type == pa.string()
    assert schema.field("metadata:explicit").type == pa.bool_()
    assert schema.field("audio:embedding").type == pa.list_(pa.float32())
    assert schema.field("engagement:plays_7d__event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.metadata[b"feature_service_version"] == b"ranking_v1@1a2b3c4d"
    assert table.column("content_id").to_pylist() == IDS
    assert table.column("engagement:plays_7d").to_pylist() == [12, None, 0]
    assert table.column("engagement:skip_rate").to_pylist() == [0.25, None, None]
    assert table.column("metadata:language").to_pylist() == ["en", None, None]
    assert table.column("metadata:explicit").to_pylist() == [False, None, True]
    assert table.column("audio:embedding").to_pylist() == [[0.5, -1.0, 2.0], None, None]
    first = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert table.column("engagement:plays_7d__event_timestamp").to_pylist() == [
        first,
        None,
        first + datetime.timedelta(microseconds=1),
    ]
    assert OnlineFeatures(FEATURES).to_arrow().num_columns == 6


def test_vectors_keep_their_rows_when_lengths_differ() -> None:
    column = pb.FeatureColumn(
        name="audio:embedding",
        type=pb.VALUE_TYPE_FLOAT_VECTOR,
        vector_values=[pb.FloatVector(values=[1.0]), pb.FloatVector(), pb.FloatVector(values=[2.0, 3.0])],
        statuses=[PRESENT, NOT_FOUND, PRESENT],
    )
    response = pb.GetOnlineFeaturesResponse(
        feature_names=["audio:embedding"], content_ids=IDS, columns=[column]
    )
    assert OnlineFeatures(response).to_arrow().column("audio:embedding").to_pylist() == [
        [1.0],
        None,
        [2.0, 3.0],
    ]


def test_features_to_pandas_keeps_integers_and_booleans_nullable() -> None:
    frame = OnlineFeatures(FEATURES).to_pandas()
    assert list(frame["content_id"]) == IDS
    assert str(frame["engagement:plays_7d"].dtype) == "Int64"
    assert str(frame["metadata:explicit"].dtype) == "boolean"
    assert frame["engagement:plays_7d"].tolist() == [12, pd.NA, 0]
    assert frame["metadata:explicit"].tolist() == [False, pd.NA, True]
    skip_rate = frame["engagement:skip_rate"]
    assert skip_rate.dtype == np.float64 and skip_rate[0] == 0.25 and skip_rate[1:].isna().all()
    assert frame["metadata:language"].tolist() == ["en", None, None]
    assert list(frame["audio:embedding"][0]) == [0.5, -1.0, 2.0]
    assert frame["audio:embedding"][1:].isna().all()


def test_a_misaligned_column_fails_instead_of_shifting_values(served: Server) -> None:
    broken = pb.GetOnlineFeaturesResponse()
    broken.CopyFrom(FEATURES)
    del broken.columns[0].int64_values[-1]
    served.servicer.features = broken
    with SignalsClient(served.target) as client, pytest.raises(MalformedResponseError, match="plays_7d"):
        client.get_online_features(IDS, feature_service="ranking_v1")


def test_an_unknown_value_type_is_named_when_decoded() -> None:
    response = pb.GetOnlineFeaturesResponse(
        content_ids=["c1"],
        feature_names=["x:y"],
        columns=[pb.FeatureColumn(name="x:y", type=99, statuses=[PRESENT])],  # type: ignore[arg-type]
    )
    features = OnlineFeatures(response)
    with pytest.raises(MalformedResponseError, match="value type 99"):
        features.to_dicts()


def test_scores_decode_decisions_and_policy(served: Server) -> None:
    with SignalsClient(served.target) as client:
        scores = client.score("upload_safety", IDS, model_version="v3")
    request = served.servicer.calls[0].request
    assert (request.model, list(request.content_ids), request.model_version) == ("upload_safety", IDS, "v3")
    assert (scores.model, scores.model_version) == ("upload_safety", "v3")
    assert scores.policy == (0.5, 0.9) == Policy(review_threshold=0.5, block_threshold=0.9)
    assert scores.to_dicts() == [
        {
            "content_id": "c1",
            "score": 0.1,
            "found": True,
            "missing_features": 0,
            "decision": "ALLOW",
            "decision_threshold": 0.5,
        },
        {
            "content_id": "c2",
            "score": 0.6,
            "found": False,
            "missing_features": 2,
            "decision": "REVIEW",
            "decision_threshold": 0.5,
        },
        {
            "content_id": "c3",
            "score": 0.95,
            "found": True,
            "missing_features": 0,
            "decision": "BLOCK",
            "decision_threshold": 0.9,
        },
    ]
    assert list(scores.to_pandas()["decision"]) == ["ALLOW", "REVIEW", "BLOCK"]


def test_scores_without_a_policy_have_no_decisions() -> None:
    scores = Scores(
        pb.ScoreResponse(model="engagement", scores=[pb.ContentScore(content_id="c1", score=0.4)])
    )
    assert scores.policy is None
    assert scores.to_dicts() == [
        {
            "content_id": "c1",
            "score": 0.4,
            "found": False,
            "missing_features": 0,
            "decision": None,
            "decision_threshold": None,
        }
    ]


def test_an_unscored_item_has_no_score_and_no_decision() -> None:
    """The server sends NaN for an item it could not score: the client says None, not a number."""
    scores = Scores(
        pb.ScoreResponse(
            model="engagement",
            scores=[
                pb.ContentScore(content_id="c1", score=0.4, found=True, decision=pb.DECISION_ALLOW,
                                decision_threshold=0.5),
                pb.ContentScore(content_id="gone", score=float("nan"), missing_features=3),
            ],
            policy=pb.DecisionPolicy(review_threshold=0.5, block_threshold=0.9),
        )
    )  # fmt: skip
    first, unknown = scores.to_dicts()
    assert first["score"] == 0.4 and first["decision"] == "ALLOW"
    assert unknown == {
        "content_id": "gone",
        "score": None,
        "found": False,
        "missing_features": 3,
        "decision": None,
        "decision_threshold": None,
    }
    frame = scores.to_pandas()
    assert frame["score"].dtype == np.float64
    assert frame["score"].iloc[0] == 0.4 and np.isnan(frame["score"].iloc[1])


def test_list_calls_return_the_protos(served: Server) -> None:
    with SignalsClient(served.target) as client:
        services = client.list_feature_services()
        models = client.list_models()
    assert [service.name for service in services] == ["ranking_v1"]
    assert services[0].features[0].max_age_seconds == 86_400
    assert [(model.name, model.version, list(model.versions)) for model in models] == [
        ("engagement", "v2", ["v1", "v2"])
    ]
