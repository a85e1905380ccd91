"""Online feature reads, independent of any transport.

Reads go through Feast's SDK, so values are exactly what Feast itself serves; the registry is read
from Feast's cache rather than on every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from content_signals.config import PlatformConfig
from content_signals.definitions import CONTENT, SIGNAL_TABLES, key_lookup
from serving.errors import InvalidRequest, NotFound, Unavailable


class Status(Enum):
    PRESENT = "present"
    NOT_FOUND = "not_found"
    OUTSIDE_MAX_AGE = "outside_max_age"


@dataclass(frozen=True)
class FeatureCell:
    value: Any
    status: Status
    event_timestamp: datetime | None


@dataclass(frozen=True)
class OnlineFeatures:
    feature_service: str
    feature_names: list[str]
    content_ids: list[str]
    # rows[i][j] is feature_names[j] of content_ids[i].
    rows: list[list[FeatureCell]]


def validate_content_ids(content_ids: Sequence[str], limit: int) -> list[str]:
    ids = list(content_ids)
    if not ids:
        raise InvalidRequest("content_ids must not be empty")
    if len(ids) > limit:
        raise InvalidRequest(f"too many content_ids: {len(ids)} (at most {limit} per request)")
    if any(not cid for cid in ids):
        raise InvalidRequest("content_ids must not contain empty strings")
    return ids


def _python_value(value: Any) -> Any:
    kind = value.WhichOneof("val")
    return None if kind in (None, "null_val") else getattr(value, kind)


def _declared_names(service: Any) -> list[str]:
    """The service's features in their declared order (Feast's response order is not stable)."""
    return [f.name for p in service.feature_view_projections for f in p.features]


class OnlineFeatureReader:
    """Reads features for content ids by feature service name."""

    def __init__(self, config: PlatformConfig) -> None:
        from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

        from feature_repo.repo import feature_store

        self._store = feature_store(config)
        self._limit = config.serving.max_entities_per_request
        self._statuses = {
            FieldStatus.PRESENT: Status.PRESENT,
            FieldStatus.NULL_VALUE: Status.PRESENT,
            FieldStatus.NOT_FOUND: Status.NOT_FOUND,
            FieldStatus.OUTSIDE_MAX_AGE: Status.OUTSIDE_MAX_AGE,
        }

    def _service(self, feature_service: str) -> Any:
        from feast.errors import FeatureServiceNotFoundException

        if not feature_service:
            raise InvalidRequest("feature_service must be set")
        try:
            return self._store.get_feature_service(feature_service, allow_cache=True)
        except FeatureServiceNotFoundException:
            raise NotFound(f"unknown feature service {feature_service!r}") from None

    def feature_names(self, feature_service: str) -> list[str]:
        return _declared_names(self._service(feature_service))

    def _entity_rows(self, service: Any, ids: list[str]) -> list[dict[str, str]]:
        """One row per id, with the other join keys the service's views need looked up online.

        A creator's features are found through the item's ``item_creator_id`` (the same lookup the
        training sets make point in time); an item without one gets a key no creator has.
        """
        rows = [{CONTENT.join_key: cid} for cid in ids]
        tables = [SIGNAL_TABLES[p.name] for p in service.feature_view_projections if p.name in SIGNAL_TABLES]
        for key in sorted({t.entity.join_key for t in tables} - {CONTENT.join_key}):
            table, signal = key_lookup(key, (CONTENT.join_key,))
            found = self._store.get_online_features(
                features=[f"{table.name}:{signal.name}"], entity_rows=[dict(r) for r in rows]
            ).to_dict()[signal.name]
            for row, value in zip(rows, found, strict=True):
                row[key] = value or ""
        return rows

    def read(self, feature_service: str, content_ids: Sequence[str]) -> OnlineFeatures:
        ids = validate_content_ids(content_ids, self._limit)
        service = self._service(feature_service)
        names = _declared_names(service)
        try:
            response = self._store.get_online_features(
                features=service, entity_rows=self._entity_rows(service, ids)
            ).proto
        except (ConnectionError, OSError) as exc:
            raise Unavailable(f"online store unavailable: {exc}") from exc
        position = {name: i for i, name in enumerate(response.metadata.feature_names.val)}
        columns = [response.results[position[name]] for name in names]
        rows = []
        for row in range(len(ids)):
            cells = []
            for column in columns:
                status = self._statuses.get(column.statuses[row], Status.NOT_FOUND)
                stamp = column.event_timestamps[row]
                cells.append(
                    FeatureCell(
                        value=_python_value(column.values[row]) if status != Status.NOT_FOUND else None,
                        status=status,
                        event_timestamp=(
                            datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, tz=UTC)
                            if status != Status.NOT_FOUND and stamp.seconds
                            else None
                        ),
                    )
                )
            rows.append(cells)
        return OnlineFeatures(feature_service, names, ids, rows)
