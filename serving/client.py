"""A small Python client for ContentSignalsService, used by the demo and the tests."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import grpc

from serving.api.content_signals.v1 import content_signals_pb2 as pb
from serving.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc


def value_of(value: pb.FeatureValue) -> Any:
    kind = value.WhichOneof("kind")
    return None if kind is None else getattr(value, kind)


class SignalsClient:
    def __init__(self, target: str, timeout_s: float = 10.0) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.ContentSignalsServiceStub(self._channel)
        self._timeout_s = timeout_s

    def get_online_features(
        self, feature_service: str, content_ids: Sequence[str]
    ) -> pb.GetOnlineFeaturesResponse:
        request = pb.GetOnlineFeaturesRequest(feature_service=feature_service, content_ids=content_ids)
        return self._stub.GetOnlineFeatures(request, timeout=self._timeout_s)

    def score(self, model: str, content_ids: Sequence[str]) -> pb.ScoreResponse:
        request = pb.ScoreRequest(model=model, content_ids=content_ids)
        return self._stub.Score(request, timeout=self._timeout_s)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SignalsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
