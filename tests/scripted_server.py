"""A real in-process gRPC server with a scripted ContentSignalsService, for the client tests.

The servicer fails the first calls with chosen status codes and then answers fixed columnar
responses, recording each call's request and metadata, so retries, deadlines, auth metadata, TLS
and decoding are exercised over the wire without Ray or an online store. It needs only grpcio and
the generated code: tests/test_packaging.py serves it to the client installed in a bare environment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc

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


def start_scripted_server(credentials: grpc.ServerCredentials | None = None) -> tuple[grpc.Server, Server]:
    """A started server on a free local port (TLS with ``credentials``); the caller stops it."""
    servicer = ScriptedServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ContentSignalsServiceServicer_to_server(servicer, server)
    address = "127.0.0.1:0"
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    server.start()
    return server, Server(servicer, f"127.0.0.1:{port}")


@contextmanager
def scripted_server() -> Iterator[Server]:
    server, running = start_scripted_server()
    try:
        yield running
    finally:
        server.stop(grace=None)
