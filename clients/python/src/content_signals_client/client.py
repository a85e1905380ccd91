"""Typed Python client for ``content_signals.v1.ContentSignalsService``.

Ranking and moderation teams call the service through this module rather than the generated stub
so that every caller gets the same behaviour on the things that are easy to get wrong:

* **Deadlines.** Every call has one overall deadline (``timeout_s``, 1 s by default). Retries share
  it: each attempt is given only the time that is left, so a retried call never takes longer than
  a call that was not retried.
* **Retries.** Only UNAVAILABLE (the online store or a replica cannot be reached; transient) and,
  by default, RESOURCE_EXHAUSTED (the server shed load) are retried, with exponential backoff and
  full jitter so that many clients recovering at once do not hit the server in lock step. Every RPC
  of the service is a read, so a retry cannot apply anything twice. Caller errors
  (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED) would fail identically again and
  DEADLINE_EXCEEDED means the time budget is gone, so those are raised at once.
* **Auth and TLS.** A bearer token goes in the ``authorization`` metadata of every call; TLS is used
  when root certificates are given (or ``tls=True`` for the system's roots).
* **Columnar responses.** :class:`OnlineFeatures` decodes the response's typed columns into dicts,
  an Arrow table or a pandas frame, with ``None``/null wherever a value is not PRESENT (the wire
  carries the type's default there, which must never be mistaken for a real 0 or ""). Arrow and
  pandas are optional: ``pip install 'content-signals-client[arrow]'`` (or ``[pandas]``).

Errors are the ``grpc.RpcError`` of the last attempt (``.code()``, ``.details()``); malformed
arguments raise ``ValueError``/``TypeError`` before anything is sent.
"""

from __future__ import annotations

import logging
import numbers
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc
from content_signals_client.results import (
    CategoryRule,
    MalformedResponseError,
    OnlineFeatures,
    Policy,
    Scores,
    SimilarContentResult,
    SimilarItem,
    value_of,
)

if TYPE_CHECKING:
    pass

__all__ = [
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

log = logging.getLogger(__name__)

_R = TypeVar("_R")

#: One request-time input value; a whole input is a sequence with one value per content id.
RequestInputValue = str | float | int | bool


# Never retried, whatever the configuration: retrying cannot change the answer, or (for
# DEADLINE_EXCEEDED) there is no time left to retry in.
_NEVER_RETRIED = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
# Responses of 1,000 ids with embedding features exceed gRPC's 4 MiB default receive limit.
DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024 * 1024


# --- request-time inputs -----------------------------------------------------------------------


def _is_bool(value: object) -> bool:
    if isinstance(value, bool):
        return True
    # numpy's bool_ is neither a bool nor a number. numpy is optional here (the client needs only
    # grpcio and protobuf): a value can only be a numpy bool if the caller has imported numpy.
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def _kind(value: object) -> str:
    # bool before int: bool is a subclass of int, and True must not travel as int64 1.
    if _is_bool(value):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int64"
    if isinstance(value, numbers.Real):
        return "double"
    if isinstance(value, str):
        return "string"
    raise TypeError(f"unsupported request input value {value!r} of type {type(value).__name__}")


def request_input(name: str, values: Sequence[RequestInputValue]) -> pb.RequestInput:
    """One request-time input as a ``RequestInput``, its list chosen by the values' Python type.

    All values must share one type: the server declares one type per input, and silently widening
    (int to double, anything to str) would hide a caller bug until the model saw the wrong data.
    """
    if isinstance(values, str | bytes):
        raise TypeError(f"request input {name!r}: pass a sequence of values, not a single string")
    kinds = {_kind(value) for value in values}
    if not kinds:
        raise ValueError(f"request input {name!r} has no values; give one per content id")
    if len(kinds) > 1:
        raise ValueError(f"request input {name!r} mixes value types {sorted(kinds)}; use one type")
    kind = kinds.pop()
    if kind == "bool":
        return pb.RequestInput(bool_values=[bool(value) for value in values])
    if kind == "int64":
        return pb.RequestInput(int64_values=[int(value) for value in values])
    if kind == "double":
        return pb.RequestInput(double_values=[float(value) for value in values])
    return pb.RequestInput(string_values=[str(value) for value in values])


def _request_inputs(
    inputs: Mapping[str, Sequence[RequestInputValue]] | None, id_count: int
) -> dict[str, pb.RequestInput]:
    converted: dict[str, pb.RequestInput] = {}
    for name, values in (inputs or {}).items():
        converted[name] = request_input(name, values)
        if len(values) != id_count:
            raise ValueError(
                f"request input {name!r} has {len(values)} values for {id_count} content ids; "
                "give one per id, in the same order"
            )
    return converted


def _content_ids(content_ids: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too: "c000001" would become seven one-character ids.
    if isinstance(content_ids, str | bytes):
        raise TypeError("content_ids must be a sequence of ids, not a single string")
    return list(content_ids)


# --- results -----------------------------------------------------------------------------------


# --- the client --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RetryPolicy:
    max_attempts: int
    initial_backoff_s: float
    max_backoff_s: float
    multiplier: float
    retryable: frozenset[grpc.StatusCode]

    def backoff_cap(self, retry: int) -> float:
        """Upper bound of the wait before retry number ``retry`` (0-based)."""
        try:
            return float(min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**retry))
        except OverflowError:  # many attempts with a large multiplier: long past the cap
            return self.max_backoff_s


class SignalsClient:
    """A client for one ContentSignalsService target (``host:port``).

    Thread-safe: share one client (one channel, one pool of HTTP/2 connections) across threads
    rather than creating one per request. Use it as a context manager or call :meth:`close`.

    ``timeout_s`` is the default overall deadline of a call, retries included; each method takes a
    ``timeout_s`` override. Retries follow ``max_attempts`` (first call included),
    ``initial_backoff_s``, ``backoff_multiplier`` and ``max_backoff_s``, with full jitter: the wait
    before retry *n* is uniform in ``[0, min(max_backoff_s, initial_backoff_s * multiplier**n)]``.
    ``sleep``, ``clock`` and ``rng`` exist so tests can observe retries without waiting.
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        root_certificates: bytes | None = None,
        tls: bool = False,
        server_name_override: str | None = None,
        timeout_s: float = 1.0,
        max_attempts: int = 4,
        initial_backoff_s: float = 0.05,
        max_backoff_s: float = 1.0,
        backoff_multiplier: float = 2.0,
        retry_resource_exhausted: bool = True,
        max_receive_message_bytes: int = DEFAULT_MAX_RECEIVE_BYTES,
        channel_options: Sequence[tuple[str, Any]] = (),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if initial_backoff_s < 0 or max_backoff_s < 0 or backoff_multiplier < 1:
            raise ValueError("backoffs must be >= 0 and backoff_multiplier >= 1")
        if server_name_override is not None and root_certificates is None and not tls:
            raise ValueError("server_name_override only applies to TLS: give root_certificates or tls=True")
        self.target = target
        self.timeout_s = timeout_s
        retryable = {grpc.StatusCode.UNAVAILABLE}
        if retry_resource_exhausted:
            retryable.add(grpc.StatusCode.RESOURCE_EXHAUSTED)
        self._retry = _RetryPolicy(
            max_attempts=max_attempts,
            initial_backoff_s=initial_backoff_s,
            max_backoff_s=max_backoff_s,
            multiplier=backoff_multiplier,
            retryable=frozenset(retryable - _NEVER_RETRIED),
        )
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

        options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", max_receive_message_bytes)]
        if server_name_override is not None:
            options.append(("grpc.ssl_target_name_override", server_name_override))
        options.extend(channel_options)
        if root_certificates is not None or tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = pb_grpc.ContentSignalsServiceStub(self._channel)

    # -- lifecycle --

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
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

    # -- RPCs --

    def get_online_features(
        self,
        content_ids: Sequence[str],
        *,
        feature_service: str | None = None,
        feature_refs: Sequence[str] | None = None,
        request_inputs: Mapping[str, Sequence[RequestInputValue]] | None = None,
        timeout_s: float | None = None,
    ) -> OnlineFeatures:
        """Feature values for ``content_ids`` from a feature service or explicit "view:feature" refs.

        Exactly one of ``feature_service`` and ``feature_refs`` must be given. ``request_inputs``
        maps an on-demand input's name to one value per id (e.g. ``{"upload_title": [...]}``).
        """
        if (feature_service is None) == (feature_refs is None):
            raise ValueError("give exactly one of feature_service and feature_refs")
        if isinstance(feature_refs, str):
            raise TypeError("feature_refs must be a sequence of 'view:feature' strings, not one string")
        ids = _content_ids(content_ids)
        request = pb.GetOnlineFeaturesRequest(
            feature_service=feature_service or "",
            content_ids=ids,
            feature_refs=list(feature_refs or ()),
            request_inputs=_request_inputs(request_inputs, len(ids)),
        )
        response: pb.GetOnlineFeaturesResponse = self._call(self._stub.GetOnlineFeatures, request, timeout_s)
        return OnlineFeatures(response)

    def score(
        self,
        model: str,
        content_ids: Sequence[str],
        *,
        model_version: str | None = None,
        request_inputs: Mapping[str, Sequence[RequestInputValue]] | None = None,
        timeout_s: float | None = None,
    ) -> Scores:
        """Scores of ``model`` (its served version unless ``model_version``) for ``content_ids``."""
        ids = _content_ids(content_ids)
        request = pb.ScoreRequest(
            model=model,
            content_ids=ids,
            model_version=model_version or "",
            request_inputs=_request_inputs(request_inputs, len(ids)),
        )
        response: pb.ScoreResponse = self._call(self._stub.Score, request, timeout_s)
        return Scores(response)

    def similar_content(
        self,
        content_id: str | None = None,
        *,
        text: str | None = None,
        k: int = 10,
        content_types: Sequence[str] = (),
        exclude_same_creator: bool = False,
        exclude_blocked: bool = False,
        min_similarity: float | None = None,
        creator_id: str | None = None,
        timeout_s: float | None = None,
    ) -> SimilarContentResult:
        """The ``k`` items most similar to an indexed item (``content_id``, never among its own
        results) or to request-time ``text`` (title + ". " + description), most similar first.

        Exactly one of ``content_id`` and ``text`` must be given. ``content_types`` keeps only those
        types; ``exclude_same_creator`` drops the query item's creator (for text: ``creator_id``'s);
        ``exclude_blocked`` drops items whose latest safety decision is BLOCK; ``min_similarity``
        (cosine, -1 to 1) drops less similar ones. Fewer than ``k`` come back when the filters leave
        fewer. The server bounds ``k`` (100 by default): above it, INVALID_ARGUMENT.
        """
        if (content_id is None) == (text is None):
            raise ValueError("give exactly one of content_id and text")
        if isinstance(content_types, str):
            raise TypeError("content_types must be a sequence of types, not one string")
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        request = pb.SimilarContentRequest(
            content_id=content_id or "",
            text=text or "",
            k=int(k),
            content_types=list(content_types),
            exclude_same_creator=exclude_same_creator,
            exclude_blocked=exclude_blocked,
            creator_id=creator_id or "",
        )
        if min_similarity is not None:
            request.min_similarity = float(min_similarity)
        response: pb.SimilarContentResponse = self._call(self._stub.SimilarContent, request, timeout_s)
        return SimilarContentResult.from_response(response)

    def list_feature_services(self, *, timeout_s: float | None = None) -> list[pb.FeatureServiceInfo]:
        """The feature services this token may read, with their features, types and versions."""
        response: pb.ListFeatureServicesResponse = self._call(
            self._stub.ListFeatureServices, pb.ListFeatureServicesRequest(), timeout_s
        )
        return list(response.feature_services)

    def list_models(self, *, timeout_s: float | None = None) -> list[pb.ModelInfo]:
        """The models this token may call, with their versions and decision policies."""
        response: pb.ListModelsResponse = self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout_s)
        return list(response.models)

    # -- retries --

    def _call(self, rpc: Callable[..., _R], request: Any, timeout_s: float | None) -> _R:
        """Call ``rpc`` until it succeeds, fails with a non-retryable code, runs out of attempts or
        runs out of time; raise the last attempt's error in the last three cases."""
        budget = self.timeout_s if timeout_s is None else timeout_s
        if budget <= 0:
            raise ValueError(f"timeout_s must be positive, got {budget}")
        deadline = self._clock() + budget
        policy = self._retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return rpc(request, timeout=deadline - self._clock(), metadata=self._metadata)
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else None
                if code not in policy.retryable or attempt >= policy.max_attempts:
                    raise
                delay = self._rng.random() * policy.backoff_cap(attempt - 1)
                # Sleeping into the deadline would leave no time for the next attempt: give up now
                # with the real error rather than a DEADLINE_EXCEEDED that hides it.
                if delay >= deadline - self._clock():
                    log.debug("%s: %s on attempt %d, no time left to retry", self.target, code, attempt)
                    raise
                log.debug("%s: %s on attempt %d, retrying in %.3fs", self.target, code, attempt, delay)
                self._sleep(delay)
                if deadline - self._clock() <= 0:  # the sleep overran the deadline
                    raise
