"""What the service answers, decoded: :class:`OnlineFeatures` (typed feature columns as dicts, an
Arrow table or a pandas frame), :class:`Scores` (scores, decisions and the policy behind them) and
:class:`SimilarContentResult` (the nearest items of SimilarContent).

Kept apart from the call machinery in :mod:`content_signals_client.client` because this is what a
caller reads, and it is where the wire's conventions live: a value that is not PRESENT carries the
type's default on the wire and must come out as ``None``/null, never as a real 0 or "". Likewise
a score the server did not compute (NaN on the wire: an unknown item) comes out as ``None``.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


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


class CategoryRule(NamedTuple):
    """One rule of a per-category policy: BLOCK at or above ``block_at``, REVIEW at or above
    ``review_at`` (only for items not flagged explicit when ``review_only_if_not_explicit``),
    explicit label suggested at or above ``explicit_at``; ``None``: never."""

    category: str
    block_at: float | None
    review_at: float | None
    review_only_if_not_explicit: bool
    explicit_at: float | None

    @classmethod
    def from_proto(cls, rule: pb.CategoryRule) -> CategoryRule:
        def optional(name: str) -> float | None:
            return float(getattr(rule, name)) if rule.HasField(name) else None

        return cls(
            rule.category,
            optional("block_at"),
            optional("review_at"),
            rule.review_only_if_not_explicit,
            optional("explicit_at"),
        )


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
    def category_rules(self) -> list[CategoryRule]:
        """The version's per-category policy, in the order its rules apply; empty for versions
        that decide on a single score (see :attr:`policy`)."""
        if not self.response.HasField("policy"):
            return []
        return [CategoryRule.from_proto(rule) for rule in self.response.policy.rules]

    @property
    def content_ids(self) -> list[str]:
        return [item.content_id for item in self.response.scores]

    def categories(self) -> list[dict[str, Any]]:
        """Per requested id, what a text classifier says by category: ``category_scores`` (category
        -> probability; empty when the item was not scored), the ``decision_category`` and one-line
        ``decision_reason`` of its decision (``None`` / ``""`` when no rule fired), and
        ``explicit_suggested``."""
        return [
            {
                "content_id": item.content_id,
                "category_scores": {c.category: c.probability for c in item.category_scores},
                "decision_category": item.decision_category or None,
                "decision_reason": item.decision_reason,
                "explicit_suggested": item.explicit_suggested,
            }
            for item in self.response.scores
        ]

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per requested id: content_id, score, found (False: no stored features),
        missing_features (imputed inputs), decision ("ALLOW", "REVIEW", "BLOCK", or ``None`` for
        models without a policy) and the decision_threshold that decided it (``None`` without a
        decision).

        ``score`` is ``None`` for an item the server did not score: not found and no request
        inputs, so there was nothing to score it on (the wire carries NaN, and no decision). A
        comparison with a number then fails loudly instead of treating the item as low-scoring, as
        NaN would; :meth:`to_pandas` shows it as NaN in a float column."""
        rows = []
        for item in self.response.scores:
            decision = _DECISION_NAMES.get(item.decision)
            rows.append(
                {
                    "content_id": item.content_id,
                    "score": None if math.isnan(item.score) else item.score,
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


class SimilarItem(NamedTuple):
    """One neighbour: its id, the cosine similarity of the two text embeddings (-1 to 1, most
    similar first in a result), its content type and its creator ("" when it has none)."""

    content_id: str
    similarity: float
    content_type: str
    creator_id: str


@dataclass(frozen=True)
class SimilarContentResult:
    """A ``SimilarContentResponse``, decoded: ``items`` most similar first, the index version that
    answered (``"<partition date>.<build run id>"``) and the queried id ("" for a text query)."""

    items: list[SimilarItem]
    index_version: str
    query_content_id: str

    @classmethod
    def from_response(cls, response: pb.SimilarContentResponse) -> SimilarContentResult:
        return cls(
            [SimilarItem(m.content_id, m.similarity, m.content_type, m.creator_id) for m in response.items],
            response.index_version,
            response.query_content_id,
        )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def content_ids(self) -> list[str]:
        return [item.content_id for item in self.items]
