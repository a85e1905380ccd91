"""Online features for content ids, independent of any transport.

A request names a feature service (or explicit ``view:feature`` references), content ids and,
for on-demand features, request-time inputs. The answer is one typed column per feature, with a
status and an event time per value:

* PRESENT / NULL_VALUE: the item's row holds the feature (NULL_VALUE: stored as null);
* NOT_FOUND: the online store has no row for the item in that view;
* OUTSIDE_MAX_AGE: the row is older than the view's TTL, so its value is withheld (Feast's SDK
  returns such values as PRESENT; a ranking model must not silently read a stale value).

Views keyed by another entity (``creator_profile`` by ``creator_id``) are read with the key the
request supplies as a request input of that name, or else the key the item's ``item_creator_id``
signal holds online (the same lookup the training sets make point in time).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from content_signals.definitions import CONTENT
from content_signals.feature_repo.online_stores import (
    MISSING,
    OnlineStore,
    StoreUnavailable,
    ViewRead,
    ViewRows,
)
from content_signals.serving.catalog import (
    Catalog,
    CatalogCache,
    FeatureSpec,
    ServicePlan,
    ValueType,
    lookup_signal,
    plan_for_refs,
)
from content_signals.serving.decoding import (
    NULL_VALUE,
    OUTSIDE_MAX_AGE,
    PRESENT,
    DecodedColumn,
    decode_columns,
)
from content_signals.serving.errors import InvalidRequest, NotFound, Unavailable

RequestValues = Sequence[Any]
_REF_PLAN_CACHE_SIZE = 1024


@dataclass(frozen=True)
class FeatureRequest:
    content_ids: Sequence[str]
    feature_service: str = ""
    feature_refs: Sequence[str] = ()
    request_inputs: Mapping[str, RequestValues] = field(default_factory=dict)


@dataclass
class FeatureColumn:
    spec: FeatureSpec
    values: Any  # numpy array (int64, float64, bool) or list (str, list[float])
    statuses: np.ndarray  # int32 FeatureStatus numbers
    micros: np.ndarray  # int64 event times; 0 where NOT_FOUND


@dataclass
class FeatureResult:
    feature_service: str
    version: str
    content_ids: list[str]
    columns: list[FeatureColumn]

    @property
    def feature_names(self) -> list[str]:
        return [c.spec.ref for c in self.columns]

    def column(self, ref: str) -> FeatureColumn:
        for candidate in self.columns:
            if candidate.spec.ref == ref:
                return candidate
        raise KeyError(ref)


def validate_content_ids(content_ids: Sequence[str], limit: int) -> list[str]:
    ids = list(content_ids)
    if not ids:
        raise InvalidRequest("content_ids must not be empty")
    if len(ids) > limit:
        raise InvalidRequest(f"too many content_ids: {len(ids)} (at most {limit} per request)")
    for cid in ids:
        if not cid:
            raise InvalidRequest("content_ids must not contain empty strings")
        if len(cid) > 256:
            raise InvalidRequest(f"content id too long: {len(cid)} characters (at most 256)")
    return ids


_PYTHON_TYPES: dict[ValueType, tuple[type, ...]] = {
    ValueType.STRING: (str,),
    ValueType.DOUBLE: (float, int),
    ValueType.INT64: (int,),
    ValueType.BOOL: (bool,),
}


class FeatureDataPlane:
    """Reads a request's features: registry metadata from the catalog, values from the store."""

    def __init__(
        self,
        catalog: CatalogCache,
        store: OnlineStore,
        max_entities: int,
        enforce_ttl: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.max_entities = max_entities
        self.enforce_ttl = enforce_ttl
        self._clock = clock
        # Plans of explicit reference lists, with the catalog snapshot each was built from.
        self._ref_plans: dict[tuple[str, ...], tuple[Catalog, ServicePlan]] = {}

    def plan(self, feature_service: str, feature_refs: Sequence[str]) -> ServicePlan:
        catalog = self.catalog.current
        if feature_service and feature_refs:
            raise InvalidRequest("set feature_service or feature_refs, not both")
        if feature_service:
            if feature_service not in catalog.services:
                known = ", ".join(sorted(catalog.services)) or "none"
                raise NotFound(f"unknown feature service {feature_service!r} (served: {known})")
            return catalog.services[feature_service]
        if not feature_refs:
            raise InvalidRequest("feature_service or feature_refs must be set")
        key = tuple(feature_refs)
        cached = self._ref_plans.get(key)
        if cached is not None and cached[0] is catalog:
            return cached[1]
        try:
            plan = plan_for_refs(catalog, list(feature_refs))
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        except KeyError as exc:
            raise NotFound(str(exc.args[0])) from None
        if len(self._ref_plans) >= _REF_PLAN_CACHE_SIZE:
            self._ref_plans.clear()  # callers reuse a handful of lists; a bound is all that is needed
        self._ref_plans[key] = (catalog, plan)
        return plan

    def _check_inputs(self, plan: ServicePlan, inputs: Mapping[str, RequestValues], n: int) -> None:
        declared = dict(plan.request_inputs)
        for view in plan.batch_views:
            join_key = self.catalog.current.views[view].join_key
            if join_key != CONTENT.join_key:
                declared.setdefault(join_key, ValueType.STRING)
        for name, values in inputs.items():
            if name not in declared:
                expected = ", ".join(sorted(declared)) or "none"
                raise InvalidRequest(f"unexpected request input {name!r} (this request takes: {expected})")
            if len(values) != n:
                raise InvalidRequest(f"request input {name!r} has {len(values)} values for {n} content ids")
            wanted = declared[name]
            allowed = _PYTHON_TYPES.get(wanted, ())
            for value in values:
                if not isinstance(value, allowed) or (wanted != ValueType.BOOL and isinstance(value, bool)):
                    raise InvalidRequest(
                        f"request input {name!r} must be {wanted.name.lower()} values, "
                        f"got {type(value).__name__}"
                    )
                if isinstance(value, float) and not math.isfinite(value):
                    raise InvalidRequest(f"request input {name!r} must be finite")
        missing = sorted(set(plan.request_inputs) - set(inputs))
        if missing:
            raise InvalidRequest(f"missing request inputs: {', '.join(missing)}")

    async def read(
        self, request: FeatureRequest, authorize: Callable[[ServicePlan], None] | None = None
    ) -> FeatureResult:
        """The request's features; ``authorize`` sees the plan before anything is read."""
        ids = validate_content_ids(request.content_ids, self.max_entities)
        plan = self.plan(request.feature_service, request.feature_refs)
        if authorize is not None:
            authorize(plan)
        self._check_inputs(plan, request.request_inputs, len(ids))
        now_us = int(self._clock() * 1_000_000)
        columns: dict[str, FeatureColumn] = {}
        await self._read_batch_views(plan, ids, request.request_inputs, now_us, columns)
        for spec_view in plan.on_demand:
            self._compute_on_demand(spec_view.name, plan, request.request_inputs, len(ids), now_us, columns)
        return FeatureResult(plan.name, plan.version, ids, [columns[f.ref] for f in plan.features])

    async def _read_batch_views(
        self,
        plan: ServicePlan,
        ids: list[str],
        inputs: Mapping[str, RequestValues],
        now_us: int,
        columns: dict[str, FeatureColumn],
    ) -> None:
        catalog = self.catalog.current
        by_key: dict[str, dict[str, list[FeatureSpec]]] = {}
        for view, specs in plan.batch_views.items():
            by_key.setdefault(catalog.views[view].join_key, {})[view] = specs
        # Other entities' keys not supplied by the caller are looked up on the content row.
        lookups = {key: lookup_signal(key) for key in by_key if key != CONTENT.join_key and key not in inputs}
        content_views = dict(by_key.get(CONTENT.join_key, {}))
        extra: dict[str, list[str]] = {}
        for view, signal in lookups.values():
            if not any(s.name == signal for s in content_views.get(view, [])):
                extra.setdefault(view, []).append(signal)
        keys: dict[str, list[str]] = {CONTENT.join_key: ids}
        if content_views or extra:
            reads = [
                ViewRead(v, [s.name for s in content_views.get(v, [])] + extra.get(v, []))
                for v in dict.fromkeys([*content_views, *extra])
            ]
            rows = await self._read_store(CONTENT.join_key, ids, reads)
            decoded_views = _decode_views(catalog, reads, [r.values for r in rows], [r.micros for r in rows])
            for read, view_rows, decoded in zip(reads, rows, decoded_views, strict=True):
                for key, (view, signal) in lookups.items():
                    if view == read.view:
                        column = decoded[signal]
                        keys[key] = [
                            str(v) if s == PRESENT else ""
                            for v, s in zip(column.values, column.statuses, strict=True)
                        ]
                times = _ViewTimes.of(
                    view_rows.micros, catalog.views[read.view].ttl_seconds, self._now(now_us)
                )
                for spec in content_views.get(read.view, []):
                    columns[spec.ref] = times.column(spec, decoded[spec.name])
        for key, views in by_key.items():
            if key == CONTENT.join_key:
                continue
            entity_ids = [str(v) for v in inputs[key]] if key in inputs else keys[key]
            reads = [ViewRead(v, [s.name for s in specs]) for v, specs in views.items()]
            unique = list(dict.fromkeys(e for e in entity_ids if e))
            if unique:
                found = await self._read_store(key, unique, reads)
            else:
                found = [ViewRows([[] for _ in r.features], np.zeros(0, dtype=np.int64)) for r in reads]
            # Each requested item gets its entity's row (several items may share one creator).
            position = {e: j for j, e in enumerate(unique)}
            index = np.array([position.get(e, -1) for e in entity_ids], dtype=np.int64)
            has_key = index >= 0
            fanned_values, fanned_micros = [], []
            for view_rows in found:
                micros = np.full(len(index), MISSING, dtype=np.int64)
                micros[has_key] = view_rows.micros[index[has_key]]
                fanned_micros.append(micros)
                fanned_values.append(
                    [[raw[j] if j >= 0 else None for j in index] for raw in view_rows.values]
                )
            decoded_views = _decode_views(catalog, reads, fanned_values, fanned_micros)
            for read, micros, decoded in zip(reads, fanned_micros, decoded_views, strict=True):
                times = _ViewTimes.of(micros, catalog.views[read.view].ttl_seconds, self._now(now_us))
                for spec in views[read.view]:
                    columns[spec.ref] = times.column(spec, decoded[spec.name])

    async def _read_store(
        self, join_key: str, entity_ids: list[str], reads: list[ViewRead]
    ) -> list[ViewRows]:
        try:
            return await self.store.read(join_key, entity_ids, reads)
        except StoreUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    def _now(self, now_us: int) -> int | None:
        return now_us if self.enforce_ttl else None

    def _compute_on_demand(
        self,
        view: str,
        plan: ServicePlan,
        inputs: Mapping[str, RequestValues],
        n: int,
        now_us: int,
        columns: dict[str, FeatureColumn],
    ) -> None:
        import pandas as pd

        spec_view = self.catalog.current.on_demand[view]
        frame = pd.DataFrame({name: list(inputs[name]) for name in spec_view.inputs})
        output = spec_view.transform(frame)
        for spec in plan.features:
            if spec.view != view:
                continue
            series = output[spec.name]
            nulls = series.isna().to_numpy()
            statuses = np.where(nulls, NULL_VALUE, PRESENT).astype(np.int32)
            if spec.type == ValueType.STRING:
                values: Any = ["" if null else str(v) for v, null in zip(series, nulls, strict=True)]
            elif spec.type == ValueType.FLOAT_VECTOR:
                values = [
                    [] if null else [float(x) for x in v] for v, null in zip(series, nulls, strict=True)
                ]
            else:
                dtype = {ValueType.INT64: np.int64, ValueType.DOUBLE: np.float64, ValueType.BOOL: bool}[
                    spec.type
                ]
                values = np.where(nulls, 0, series.to_numpy(dtype=object)).astype(dtype)
            columns[spec.ref] = FeatureColumn(spec, values, statuses, np.full(n, now_us, dtype=np.int64))


def _decode_views(
    catalog: Catalog, reads: list[ViewRead], values: list[list[list[bytes | None]]], micros: list[np.ndarray]
) -> list[dict[str, DecodedColumn]]:
    """Decode every feature of every view in one :func:`decode_columns` call (its fixed cost is
    paid once per request, not once per view)."""
    types: list[ValueType] = []
    raws: list[list[bytes | None]] = []
    found: list[np.ndarray] = []
    for read, view_values, view_micros in zip(reads, values, micros, strict=True):
        row_found = view_micros != MISSING
        view_types = catalog.views[read.view].features
        types += [view_types[name] for name in read.features]
        raws += view_values
        found += [row_found] * len(read.features)
    decoded = iter(decode_columns(types, raws, found))
    return [{name: next(decoded) for name in read.features} for read in reads]


@dataclass(frozen=True)
class _ViewTimes:
    """What a view's rows share across its features: event times, and which rows are too old."""

    event_micros: np.ndarray  # 0 where the entity has no row
    stale: np.ndarray | None  # rows past the TTL; None when none are (or the TTL is not enforced)

    @classmethod
    def of(cls, micros: np.ndarray, ttl_seconds: int, now_us: int | None) -> _ViewTimes:
        found = micros != MISSING
        stale = None
        if ttl_seconds > 0 and now_us is not None:
            too_old = found & (micros < now_us - ttl_seconds * 1_000_000)
            stale = too_old if too_old.any() else None
        return cls(np.where(found, micros, 0), stale)

    def column(self, spec: FeatureSpec, decoded: DecodedColumn) -> FeatureColumn:
        if self.stale is not None:
            decoded.statuses[self.stale] = OUTSIDE_MAX_AGE
        return FeatureColumn(spec, decoded.values, decoded.statuses, self.event_micros)
