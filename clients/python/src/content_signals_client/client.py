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

import importlib.util
import itertools
import logging
import numbers
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import grpc

from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "MalformedResponseError",
    "OnlineFeatures",
    "Policy",
    "RequestInputValue",
    "Scores",
    "SignalsClient",
    "request_input",
    "value_of",
]

log = logging.getLogger(__name__)

_R = TypeVar("_R")

#: One request-time input value; a whole input is a sequence with one value per content id.
RequestInputValue = str | float | int | bool

PRESENT = pb.FEATURE_STATUS_PRESENT

# Status names without the enum prefix: what `OnlineFeatures.statuses()` reports.
_STATUS_NAMES: dict[int, str] = {
    number: name.removeprefix("FEATURE_STATUS_") for name, number in pb.FeatureStatus.items()
}
_DECISION_NAMES: dict[int, str] = {
    pb.DECISION_ALLOW: "ALLOW",
    pb.DECISION_REVIEW: "REVIEW",
    pb.DECISION_BLOCK: "BLOCK",
}
# The values list that carries each type; FLOAT_VECTOR is handled separately (nested messages).
_VALUE_FIELDS: dict[int, str] = {
    pb.VALUE_TYPE_INT64: "int64_values",
    pb.VALUE_TYPE_DOUBLE: "double_values",
    pb.VALUE_TYPE_STRING: "string_values",
    pb.VALUE_TYPE_BOOL: "bool_values",
    pb.VALUE_TYPE_FLOAT_VECTOR: "vector_values",
}
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


class MalformedResponseError(ValueError):
    """The server's response breaks the API's shape rules (e.g. a column with the wrong length).

    Raised instead of returning misaligned rows: a value attributed to the wrong content id is
    worse than no value.
    """


def _status_name(status: int) -> str:
    # A newer server may add statuses; name them rather than fail.
    return _STATUS_NAMES.get(status, f"UNKNOWN_{status}")


def _check_type(column: pb.FeatureColumn) -> str:
    field = _VALUE_FIELDS.get(column.type)
    if field is None:
        raise MalformedResponseError(
            f"column {column.name!r} has value type {column.type}, which this client cannot decode; "
            "upgrade content-signals-client"
        )
    return field


def value_of(column: pb.FeatureColumn, row: int) -> Any:
    """The Python value of ``column`` at ``row``, or ``None`` unless its status is PRESENT.

    Vectors come back as ``list[float]``. Where a value is not PRESENT the wire holds the type's
    default (0, "", False, an empty vector), so the status, not the value, decides.
    """
    if column.statuses[row] != PRESENT:
        return None
    field = _check_type(column)
    if column.type == pb.VALUE_TYPE_FLOAT_VECTOR:
        return list(column.vector_values[row].values)
    return getattr(column, field)[row]


def _decoded(column: pb.FeatureColumn) -> list[Any]:
    """The whole column as Python values, ``None`` where not PRESENT (one pass, no per-row lookups)."""
    field = _check_type(column)
    values: Sequence[Any]
    if column.type == pb.VALUE_TYPE_FLOAT_VECTOR:
        values = [list(vector.values) for vector in column.vector_values]
    else:
        values = getattr(column, field)
    return [
        value if status == PRESENT else None for value, status in zip(values, column.statuses, strict=True)
    ]


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


def _require_extra(extra: str, *modules: str) -> None:
    """Name the install command when an optional dependency is missing: the client itself needs only
    grpcio and protobuf, so Arrow and pandas output come with the ``arrow`` and ``pandas`` extras."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{' and '.join(missing)} not installed: pip install 'content-signals-client[{extra}]'",
            name=missing[0],
        )


class OnlineFeatures:
    """A ``GetOnlineFeaturesResponse`` with typed accessors.

    The response is columnar (one typed values list per feature); the accessors turn it into rows
    (:meth:`to_dicts`), an Arrow table (:meth:`to_arrow`) or a pandas frame (:meth:`to_pandas`),
    always with ``None``/null where a feature's status is not PRESENT. ``response`` is the proto.
    """

    def __init__(self, response: pb.GetOnlineFeaturesResponse) -> None:
        self.response = response
        self._columns = {column.name: column for column in response.columns}
        self._rows: dict[str, int] | None = None
        self._check_shape()

    def _check_shape(self) -> None:
        # Cheap length checks now, so a server bug fails the call instead of shifting values onto
        # other ids later. Unknown value types are tolerated until that column is decoded.
        count = len(self.response.content_ids)
        for column in self.response.columns:
            lengths = {"statuses": len(column.statuses)}
            field = _VALUE_FIELDS.get(column.type)
            if field is not None:
                lengths[field] = len(getattr(column, field))
            if column.event_timestamps_us:
                lengths["event_timestamps_us"] = len(column.event_timestamps_us)
            wrong = {name: length for name, length in lengths.items() if length != count}
            if wrong:
                raise MalformedResponseError(
                    f"column {column.name!r} has {wrong} entries for {count} content ids"
                )

    def __repr__(self) -> str:
        return (
            f"OnlineFeatures(feature_service={self.feature_service!r}, "
            f"content_ids={len(self.content_ids)}, features={len(self.feature_names)})"
        )

    def __len__(self) -> int:
        return len(self.response.content_ids)

    @property
    def feature_service(self) -> str:
        """The feature service read; empty for explicit feature references."""
        return self.response.feature_service

    @property
    def feature_service_version(self) -> str:
        """E.g. ``ranking_v1@1a2b3c4d``; changes whenever the service's features or types change, so
        a model can refuse features it was not trained on."""
        return self.response.feature_service_version

    @property
    def feature_names(self) -> list[str]:
        return list(self.response.feature_names)

    @property
    def content_ids(self) -> list[str]:
        """The requested ids in request order (duplicates kept)."""
        return list(self.response.content_ids)

    def column(self, name: str) -> pb.FeatureColumn:
        """The raw column of feature ``name`` ("view:feature"); ``KeyError`` if not returned."""
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"feature {name!r} not in response; have {self.feature_names}") from None

    def values(self, name: str) -> list[Any]:
        """Feature ``name`` for every id, in request order, ``None`` where not PRESENT."""
        return _decoded(self.column(name))

    def value(self, content_id: str, name: str) -> Any:
        """Feature ``name`` of ``content_id`` (its first occurrence), ``None`` unless PRESENT."""
        if self._rows is None:
            self._rows = {}
            for row, item in enumerate(self.response.content_ids):
                self._rows.setdefault(item, row)
        try:
            row = self._rows[content_id]
        except KeyError:
            raise KeyError(f"content id {content_id!r} was not requested") from None
        return value_of(self.column(name), row)

    def statuses(self) -> dict[str, list[str]]:
        """Per feature, each id's status name: PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE or NULL_VALUE.

        Useful to tell "no value yet" (NOT_FOUND) from "stale" (OUTSIDE_MAX_AGE) when ``None`` alone
        does not say enough, e.g. for freshness alerts.
        """
        return {
            name: [_status_name(status) for status in self.column(name).statuses]
            for name in self.response.feature_names
        }

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per requested id: ``{"content_id": id, feature: value or None, ...}``."""
        ids = list(self.response.content_ids)
        rows: list[dict[str, Any]] = [{"content_id": item} for item in ids]
        for name in self.response.feature_names:
            for row, value in zip(rows, _decoded(self.column(name)), strict=True):
                row[name] = value
        return rows

    def to_arrow(self, include_event_timestamps: bool = False) -> pa.Table:
        """An Arrow table: ``content_id`` then one typed column per feature, null where not PRESENT.

        Types: int64, float64, string, bool, list<float32>. With ``include_event_timestamps``, each
        feature is followed by ``<feature>__event_timestamp`` (timestamp[us, UTC], null where the
        server has none). The feature service and its version are in the schema metadata.
        """
        _require_extra("arrow", "pyarrow", "numpy")
        import numpy as np
        import pyarrow as pa

        arrays: list[pa.Array] = [pa.array(list(self.response.content_ids), type=pa.string())]
        names = ["content_id"]
        for name in self.response.feature_names:
            column = self.column(name)
            arrays.append(_arrow_column(column))
            names.append(name)
            if include_event_timestamps:
                micros = np.fromiter(column.event_timestamps_us, dtype=np.int64, count=len(column.statuses))
                arrays.append(pa.array(micros, type=pa.timestamp("us", tz="UTC"), mask=micros == 0))
                names.append(f"{name}__event_timestamp")
        metadata = {
            "feature_service": self.feature_service,
            "feature_service_version": self.feature_service_version,
        }
        return pa.Table.from_arrays(arrays, names=names, metadata=metadata)

    def to_pandas(self, include_event_timestamps: bool = False) -> pd.DataFrame:
        """A pandas frame of :meth:`to_arrow`, one row per requested id.

        Integers and booleans use pandas' nullable ``Int64``/``boolean`` dtypes so that a missing
        value is ``pd.NA`` instead of turning the whole column into floats; doubles are NaN where
        missing, strings and vectors ``None``.
        """
        _require_extra("pandas", "pandas", "pyarrow", "numpy")
        import pandas as pd
        import pyarrow as pa

        nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
        return self.to_arrow(include_event_timestamps).to_pandas(types_mapper=nullable.get)


def _arrow_column(column: pb.FeatureColumn) -> pa.Array:
    """One feature column as an Arrow array, built from numpy views of the packed lists."""
    import numpy as np
    import pyarrow as pa

    field = _check_type(column)
    count = len(column.statuses)
    missing = np.fromiter(column.statuses, dtype=np.int32, count=count) != PRESENT
    if column.type == pb.VALUE_TYPE_INT64:
        return pa.array(np.fromiter(column.int64_values, dtype=np.int64, count=count), mask=missing)
    if column.type == pb.VALUE_TYPE_DOUBLE:
        return pa.array(np.fromiter(column.double_values, dtype=np.float64, count=count), mask=missing)
    if column.type == pb.VALUE_TYPE_BOOL:
        return pa.array(np.fromiter(column.bool_values, dtype=np.bool_, count=count), mask=missing)
    if column.type == pb.VALUE_TYPE_STRING:
        return pa.array(list(column.string_values), type=pa.string(), mask=missing)
    assert field == "vector_values"
    lengths = np.fromiter((len(vector.values) for vector in column.vector_values), np.int32, count)
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter(
        itertools.chain.from_iterable(vector.values for vector in column.vector_values),
        dtype=np.float32,
        count=int(offsets[-1]),
    )
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat), mask=pa.array(missing))


class Policy(NamedTuple):
    """A model's decision policy: review at or above ``review_threshold``, block at or above
    ``block_threshold``. A tuple, so ``policy == (0.5, 0.9)`` works."""

    review_threshold: float
    block_threshold: float


class Scores:
    """A ``ScoreResponse`` with typed accessors; ``response`` is the proto."""

    def __init__(self, response: pb.ScoreResponse) -> None:
        self.response = response

    def __repr__(self) -> str:
        return f"Scores(model={self.model!r}, model_version={self.model_version!r}, scores={len(self)})"

    def __len__(self) -> int:
        return len(self.response.scores)

    @property
    def model(self) -> str:
        return self.response.model

    @property
    def model_version(self) -> str:
        """The version that actually scored (the served one when the request named none)."""
        return self.response.model_version

    @property
    def policy(self) -> Policy | None:
        """The decision policy stored with this model version; ``None`` for models without one."""
        if not self.response.HasField("policy"):
            return None
        return Policy(self.response.policy.review_threshold, self.response.policy.block_threshold)

    @property
    def content_ids(self) -> list[str]:
        return [item.content_id for item in self.response.scores]

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per requested id: content_id, score, found (False: no stored features, the score
        rests on imputation), missing_features (imputed inputs), decision
        ("ALLOW", "REVIEW", "BLOCK", or ``None`` for models without a policy) and the
        decision_threshold that decided it (``None`` without a decision)."""
        rows = []
        for item in self.response.scores:
            decision = _DECISION_NAMES.get(item.decision)
            rows.append(
                {
                    "content_id": item.content_id,
                    "score": item.score,
                    "found": item.found,
                    "missing_features": item.missing_features,
                    "decision": decision,
                    "decision_threshold": item.decision_threshold if decision is not None else None,
                }
            )
        return rows

    def to_pandas(self) -> pd.DataFrame:
        _require_extra("pandas", "pandas")
        import pandas as pd

        return pd.DataFrame(
            self.to_dicts(),
            columns=["content_id", "score", "found", "missing_features", "decision", "decision_threshold"],
        )


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
