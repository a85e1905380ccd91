"""serving/client.py against a real in-process gRPC server with a scripted servicer.

The servicer fails the first calls with chosen status codes and then answers fixed columnar
responses, recording each call's request and metadata, so retries, deadlines, auth metadata, TLS
and decoding are exercised over the wire without Ray or an online store.
"""

from __future__ import annotations

import datetime
import random
import runpy
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from content_signals.serving.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals.serving.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc
from content_signals.serving.client import (
    MalformedResponseError,
    OnlineFeatures,
    Policy,
    SignalsClient,
    request_input,
    value_of,
)
from tests.tls import self_signed_pem as _self_signed

PRESENT = pb.FEATURE_STATUS_PRESENT
NOT_FOUND = pb.FEATURE_STATUS_NOT_FOUND
OUTSIDE_MAX_AGE = pb.FEATURE_STATUS_OUTSIDE_MAX_AGE
NULL_VALUE = pb.FEATURE_STATUS_NULL_VALUE
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
IDS = ["c1", "c2", "c3"]

# Each column mixes statuses with values that equal the type's default where PRESENT (0, False),
# so a decoder that trusts values instead of statuses fails.
FEATURES = pb.GetOnlineFeaturesResponse(
    feature_service="ranking_v1",
    feature_service_version="ranking_v1@1a2b3c4d",
    feature_names=[
        "engagement:plays_7d",
        "engagement:skip_rate",
        "metadata:language",
        "metadata:explicit",
        "audio:embedding",
    ],
    content_ids=IDS,
    columns=[
        pb.FeatureColumn(
            name="engagement:plays_7d",
            type=pb.VALUE_TYPE_INT64,
            int64_values=[12, 0, 0],
            statuses=[PRESENT, NOT_FOUND, PRESENT],
            event_timestamps_us=[T0, 0, T0 + 1],
        ),
        pb.FeatureColumn(
            name="engagement:skip_rate",
            type=pb.VALUE_TYPE_DOUBLE,
            double_values=[0.25, 0.0, 0.5],
            statuses=[PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE],
            event_timestamps_us=[T0, 0, T0 - 86_400_000_000],
        ),
        pb.FeatureColumn(
            name="metadata:language",
            type=pb.VALUE_TYPE_STRING,
            string_values=["en", "", ""],
            statuses=[PRESENT, NOT_FOUND, NULL_VALUE],
            event_timestamps_us=[T0, 0, T0],
        ),
        pb.FeatureColumn(
            name="metadata:explicit",
            type=pb.VALUE_TYPE_BOOL,
            bool_values=[False, False, True],
            statuses=[PRESENT, NOT_FOUND, PRESENT],
            event_timestamps_us=[T0, 0, T0],
        ),
        pb.FeatureColumn(
            name="audio:embedding",
            type=pb.VALUE_TYPE_FLOAT_VECTOR,
            vector_values=[pb.FloatVector(values=[0.5, -1.0, 2.0]), pb.FloatVector(), pb.FloatVector()],
            statuses=[PRESENT, NOT_FOUND, NULL_VALUE],
            event_timestamps_us=[T0, 0, T0],
        ),
    ],
)
SCORES = pb.ScoreResponse(
    model="upload_safety",
    model_version="v3",
    scores=[
        pb.ContentScore(
            content_id="c1", score=0.1, decision=pb.DECISION_ALLOW, decision_threshold=0.5, found=True
        ),
        pb.ContentScore(
            content_id="c2",
            score=0.6,
            missing_features=2,
            decision=pb.DECISION_REVIEW,
            decision_threshold=0.5,
        ),
        pb.ContentScore(
            content_id="c3", score=0.95, decision=pb.DECISION_BLOCK, decision_threshold=0.9, found=True
        ),
    ],
    policy=pb.DecisionPolicy(review_threshold=0.5, block_threshold=0.9),
)
FEATURE_SERVICES = pb.ListFeatureServicesResponse(
    feature_services=[
        pb.FeatureServiceInfo(
            name="ranking_v1",
            version="ranking_v1@1a2b3c4d",
            features=[
                pb.FeatureInfo(name="engagement:plays_7d", type=pb.VALUE_TYPE_INT64, max_age_seconds=86_400)
            ],
        )
    ]
)
MODELS = pb.ListModelsResponse(
    models=[
        pb.ModelInfo(name="engagement", version="v2", versions=["v1", "v2"], feature_service="ranking_v1")
    ]
)


@dataclass
class Call:
    method: str
    request: Any
    metadata: dict[str, str]


@dataclass
class ScriptedServicer(pb_grpc.ContentSignalsServiceServicer):
    """Fails the first ``len(failures)`` calls with those codes, then answers the fixed responses
    (or, with ``hang``, waits until the caller's deadline passes)."""

    failures: list[grpc.StatusCode] = field(default_factory=list)
    always: grpc.StatusCode | None = None
    hang: bool = False
    features: pb.GetOnlineFeaturesResponse = field(default_factory=lambda: FEATURES)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer(self, method: str, request: Any, context: grpc.ServicerContext, response: Any) -> Any:
        with self.lock:
            self.calls.append(Call(method, request, dict(context.invocation_metadata())))
            failure = self.failures.pop(0) if self.failures else self.always
        if failure is not None:
            context.abort(failure, f"scripted {failure.name}")
        if self.hang:
            while context.is_active():
                time.sleep(0.005)
        return response

    def GetOnlineFeatures(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._answer("GetOnlineFeatures", request, context, self.features)

    def Score(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._answer("Score", request, context, SCORES)

    def ListFeatureServices(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._answer("ListFeatureServices", request, context, FEATURE_SERVICES)

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._answer("ListModels", request, context, MODELS)


@dataclass
class Server:
    servicer: ScriptedServicer
    target: str


def _start(credentials: grpc.ServerCredentials | None = None) -> tuple[grpc.Server, Server]:
    servicer = ScriptedServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ContentSignalsServiceServicer_to_server(servicer, server)
    address = "127.0.0.1:0"
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    server.start()
    return server, Server(servicer, f"127.0.0.1:{port}")


@pytest.fixture
def served() -> Iterator[Server]:
    server, running = _start()
    yield running
    server.stop(grace=None)


class Sleeps:
    """An injected ``sleep`` that records and, with a fake clock, advances time instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class AlmostOne(random.Random):
    """An ``rng`` whose draws sit at the top of the jitter range, so waits equal the backoff caps."""

    def random(self) -> float:
        return 1.0 - 1e-12


def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()  # type: ignore[attr-defined, no-any-return]


# --- retries and deadlines ---------------------------------------------------------------------


def test_unavailable_is_retried_with_growing_capped_backoff(served: Server) -> None:
    served.servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 4
    sleeps = Sleeps()
    with SignalsClient(
        served.target,
        max_attempts=5,
        timeout_s=60,
        initial_backoff_s=0.1,
        backoff_multiplier=3.0,
        max_backoff_s=0.5,
        sleep=sleeps.sleep,
        clock=sleeps.clock,
        rng=AlmostOne(),
    ) as client:
        features = client.get_online_features(IDS, feature_service="ranking_v1")
    assert len(served.servicer.calls) == 5
    assert features.content_ids == IDS
    assert sleeps.delays == pytest.approx([0.1, 0.3, 0.5, 0.5])  # x3 each retry, capped at 0.5


def test_backoff_has_full_jitter_within_the_caps(served: Server) -> None:
    served.servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 7
    sleeps = Sleeps()
    with SignalsClient(
        served.target,
        max_attempts=8,
        timeout_s=60,
        initial_backoff_s=0.05,
        max_backoff_s=1.0,
        sleep=sleeps.sleep,
        clock=sleeps.clock,
        rng=random.Random(7),
    ) as client:
        client.list_models()
    caps = [min(1.0, 0.05 * 2**retry) for retry in range(7)]
    assert len(sleeps.delays) == 7
    assert all(0 <= delay <= cap for delay, cap in zip(sleeps.delays, caps, strict=True))
    # Jitter, not a fixed schedule: the waits are spread below their caps.
    assert sum(delay / cap for delay, cap in zip(sleeps.delays, caps, strict=True)) < 6.5


def test_gives_up_after_max_attempts_with_the_last_error(served: Server) -> None:
    served.servicer.always = grpc.StatusCode.UNAVAILABLE
    sleeps = Sleeps()
    with SignalsClient(served.target, max_attempts=3, sleep=sleeps.sleep, clock=sleeps.clock) as client:
        assert _code(lambda: client.score("engagement", IDS)) == grpc.StatusCode.UNAVAILABLE
    assert len(served.servicer.calls) == 3
    assert len(sleeps.delays) == 2


def test_retries_stop_at_the_overall_deadline(served: Server) -> None:
    served.servicer.always = grpc.StatusCode.UNAVAILABLE
    sleeps = Sleeps()
    with (
        SignalsClient(
            served.target,
            timeout_s=1.0,
            max_attempts=100,
            initial_backoff_s=0.3,
            max_backoff_s=10,
            sleep=sleeps.sleep,
            clock=sleeps.clock,
            rng=AlmostOne(),
        ) as client,
        pytest.raises(grpc.RpcError) as caught,
    ):
        client.get_online_features(IDS, feature_service="ranking_v1")
    # Waits of 0.3 and 0.6 fit in 1 s; the next (1.2) would not, so the UNAVAILABLE is raised.
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert sleeps.delays == pytest.approx([0.3, 0.6])
    assert len(served.servicer.calls) == 3


def test_retries_in_real_time_never_outlast_the_deadline(served: Server) -> None:
    served.servicer.always = grpc.StatusCode.UNAVAILABLE
    with SignalsClient(served.target, timeout_s=0.3, max_attempts=1000, initial_backoff_s=0.01) as client:
        started = time.monotonic()
        assert _code(lambda: client.list_feature_services()) == grpc.StatusCode.UNAVAILABLE
        elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.4  # the deadline plus scheduling slack on a busy machine
    assert 2 < len(served.servicer.calls) < 1000


def test_a_slow_server_gets_deadline_exceeded_once(served: Server) -> None:
    served.servicer.hang = True
    sleeps = Sleeps()
    with SignalsClient(served.target, timeout_s=0.2, sleep=sleeps.sleep) as client:
        started = time.monotonic()
        assert _code(lambda: client.list_models(timeout_s=0.2)) == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 1.0
    assert len(served.servicer.calls) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ],
)
def test_caller_errors_are_not_retried(served: Server, code: grpc.StatusCode) -> None:
    served.servicer.always = code
    sleeps = Sleeps()
    with SignalsClient(served.target, sleep=sleeps.sleep) as client, pytest.raises(grpc.RpcError) as caught:
        client.get_online_features(IDS, feature_service="ranking_v1")
    assert caught.value.code() == code  # type: ignore[attr-defined]
    assert caught.value.details() == f"scripted {code.name}"  # type: ignore[attr-defined]
    assert len(served.servicer.calls) == 1
    assert sleeps.delays == []


def test_resource_exhausted_is_retried_unless_disabled(served: Server) -> None:
    sleeps = Sleeps()
    served.servicer.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED]
    with SignalsClient(served.target, sleep=sleeps.sleep) as client:
        client.list_models()
    assert len(served.servicer.calls) == 2

    served.servicer.calls.clear()
    served.servicer.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED]
    with SignalsClient(served.target, sleep=sleeps.sleep, retry_resource_exhausted=False) as client:
        assert _code(client.list_models) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(served.servicer.calls) == 1


def test_an_unreachable_target_is_unavailable_within_the_deadline() -> None:
    server, running = _start()
    server.stop(grace=None)  # nothing listens on the port any more
    with SignalsClient(running.target, timeout_s=0.5, initial_backoff_s=0.01) as client:
        started = time.monotonic()
        assert _code(client.list_models) == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 1.5


# --- metadata and TLS --------------------------------------------------------------------------


def test_the_bearer_token_reaches_the_server(served: Server) -> None:
    with SignalsClient(served.target, token="s3cret") as client:
        client.get_online_features(IDS, feature_service="ranking_v1")
        client.score("engagement", IDS)
    assert [call.metadata.get("authorization") for call in served.servicer.calls] == ["Bearer s3cret"] * 2

    served.servicer.calls.clear()
    with SignalsClient(served.target) as client:
        client.list_models()
    assert "authorization" not in served.servicer.calls[0].metadata


def test_tls_with_a_self_signed_certificate() -> None:
    key_pem, cert_pem = _self_signed("signals.test")
    server, running = _start(grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    try:
        with SignalsClient(
            running.target, token="t", root_certificates=cert_pem, server_name_override="signals.test"
        ) as client:
            assert client.get_online_features(IDS, feature_service="ranking_v1").content_ids == IDS
        assert running.servicer.calls[0].metadata["authorization"] == "Bearer t"

        # The certificate names signals.test, not 127.0.0.1: without the override the handshake
        # fails, as it does against a plaintext client or an untrusted root.
        _, other_cert = _self_signed("signals.test")
        for kwargs in (
            {"root_certificates": cert_pem},
            {"root_certificates": other_cert, "server_name_override": "signals.test"},
            {},
        ):
            with SignalsClient(running.target, timeout_s=0.5, max_attempts=1, **kwargs) as client:
                assert _code(client.list_models) == grpc.StatusCode.UNAVAILABLE, kwargs
        assert len(running.servicer.calls) == 1
    finally:
        server.stop(grace=None)


# --- decoding ----------------------------------------------------------------------------------


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
    from content_signals.serving.client import Scores

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


def test_list_calls_return_the_protos(served: Server) -> None:
    with SignalsClient(served.target) as client:
        services = client.list_feature_services()
        models = client.list_models()
    assert [service.name for service in services] == ["ranking_v1"]
    assert services[0].features[0].max_age_seconds == 86_400
    assert [(model.name, model.version, list(model.versions)) for model in models] == [
        ("engagement", "v2", ["v1", "v2"])
    ]


# --- requests ----------------------------------------------------------------------------------


def test_request_inputs_choose_the_list_by_python_type(served: Server) -> None:
    inputs: dict[str, Sequence[Any]] = {
        "upload_title": ["a", "b", "c"],
        "duration_s": [1.5, 2.0, 0.0],
        "track_count": [1, 2, 3],
        "explicit": [True, False, True],
        "numpy_ints": list(np.array([4, 5, 6])),
    }
    with SignalsClient(served.target) as client:
        client.get_online_features(IDS, feature_service="upload_safety_v1", request_inputs=inputs)
        client.score("upload_safety", IDS, request_inputs={"explicit": [False, False, True]})
    sent = served.servicer.calls[0].request
    assert sent.feature_service == "upload_safety_v1" and list(sent.feature_refs) == []
    assert sent.request_inputs["upload_title"] == pb.RequestInput(string_values=["a", "b", "c"])
    assert sent.request_inputs["duration_s"] == pb.RequestInput(double_values=[1.5, 2.0, 0.0])
    assert sent.request_inputs["track_count"] == pb.RequestInput(int64_values=[1, 2, 3])
    assert sent.request_inputs["explicit"] == pb.RequestInput(bool_values=[True, False, True])
    assert sent.request_inputs["numpy_ints"] == pb.RequestInput(int64_values=[4, 5, 6])
    assert served.servicer.calls[1].request.request_inputs["explicit"].bool_values == [False, False, True]


def test_feature_refs_are_sent_as_given(served: Server) -> None:
    with SignalsClient(served.target) as client:
        client.get_online_features(IDS, feature_refs=["engagement:plays_7d", "metadata:language"])
    sent = served.servicer.calls[0].request
    assert (sent.feature_service, list(sent.feature_refs)) == (
        "",
        ["engagement:plays_7d", "metadata:language"],
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1, 2.5, 3], "mixes value types"),
        ([True, 1, 0], "mixes value types"),
        (["a", 1, "c"], "mixes value types"),
        ([], "no values"),
        ([1, 2], "2 values for 3 content ids"),
    ],
)
def test_bad_request_inputs_fail_before_sending(served: Server, values: list[Any], message: str) -> None:
    with SignalsClient(served.target) as client, pytest.raises(ValueError, match=message):
        client.get_online_features(IDS, feature_service="upload_safety_v1", request_inputs={"x": values})
    assert served.servicer.calls == []


def test_argument_mistakes_fail_before_sending(served: Server) -> None:
    with SignalsClient(served.target) as client:
        with pytest.raises(ValueError, match="exactly one"):
            client.get_online_features(IDS)
        with pytest.raises(ValueError, match="exactly one"):
            client.get_online_features(IDS, feature_service="ranking_v1", feature_refs=["a:b"])
        with pytest.raises(TypeError, match="not a single string"):
            client.get_online_features("c000001", feature_service="ranking_v1")
        with pytest.raises(TypeError):
            request_input("x", [object()])  # type: ignore[list-item]
    assert served.servicer.calls == []


def test_the_example_script_prints_features_and_scores(
    served: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    example = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "ranking_client.py"))
    assert example["main"](["--target", served.target, "--token", "t", "--model", "upload_safety", *IDS]) == 0
    out = capsys.readouterr().out
    assert "ranking_v1@1a2b3c4d" in out
    assert "engagement:plays_7d" in out and "OUTSIDE_MAX_AGE" in out and "REVIEW" in out
    assert served.servicer.calls[0].metadata["authorization"] == "Bearer t"

    served.servicer.always = grpc.StatusCode.PERMISSION_DENIED
    assert example["main"](["--target", served.target, "c1"]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
