"""Python client of the Content Signals gRPC API (``content_signals.v1.ContentSignalsService``).

The typed client (:class:`SignalsClient`, in :mod:`content_signals_client.client`) and the code
generated from ``protos/content_signals/v1/content_signals.proto`` (in
``content_signals_client.api.content_signals.v1``). It needs only grpcio and protobuf, so ranking
and moderation teams can install it without the platform (torch, Spark, Ray).
"""

from content_signals_client.client import (
    DEFAULT_MAX_RECEIVE_BYTES,
    CategoryRule,
    MalformedResponseError,
    OnlineFeatures,
    Policy,
    RequestInputValue,
    Scores,
    SignalsClient,
    SimilarContentResult,
    SimilarItem,
    request_input,
    value_of,
)

__all__ = [
    "DEFAULT_MAX_RECEIVE_BYTES",
    "CategoryRule",
    "MalformedResponseError",
    "OnlineFeatures",
    "Policy",
    "RequestInputValue",
    "Scores",
    "SignalsClient",
    "SimilarContentResult",
    "SimilarItem",
    "request_input",
    "value_of",
]
