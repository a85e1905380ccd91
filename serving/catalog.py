"""What can be served: feature services, their features' types and TTLs, read from Feast's registry.

The registry is the single source of truth for names, types and TTLs, but reading it (a file, or
PostgreSQL in production) has no place on the request path. :class:`CatalogCache` keeps an
immutable :class:`Catalog` snapshot that requests read without locking, and rebuilds it on a
background thread every ``cache_ttl_seconds``: a request never waits for a refresh, so there is no
latency cliff when the cache expires, and a failed refresh keeps the last good snapshot serving.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from content_signals.definitions import CONTENT, key_lookup
from content_signals.serving.refresh import RefreshLoop

logger = logging.getLogger("content_signals.serving")


class ValueType(IntEnum):
    """Mirrors content_signals.v1.ValueType, so protos take these numbers unchanged."""

    INT64 = 1
    DOUBLE = 2
    STRING = 3
    BOOL = 4
    FLOAT_VECTOR = 5


@dataclass(frozen=True)
class FeatureSpec:
    view: str
    name: str
    type: ValueType
    # The view's time-to-live in seconds; 0 means no limit (and for request-time features).
    ttl_seconds: int
    # Computed from the request's inputs by an on-demand view, not read from the store.
    request_time: bool = False

    @property
    def ref(self) -> str:
        return f"{self.view}:{self.name}"


@dataclass(frozen=True)
class ViewSpec:
    """A batch feature view: where its rows live online and what they hold."""

    name: str
    join_key: str
    ttl_seconds: int
    features: dict[str, ValueType]


@dataclass(frozen=True)
class OnDemandSpec:
    """An on-demand view computed at request time from request inputs."""

    name: str
    inputs: dict[str, ValueType]
    outputs: dict[str, ValueType]
    transform: Callable[[Any], Any]


@dataclass(frozen=True)
class ServicePlan:
    """Everything needed to answer one feature service (or one list of explicit references)."""

    name: str
    version: str
    features: list[FeatureSpec]
    on_demand: list[OnDemandSpec] = field(default_factory=list)

    # Derived once per plan (plans live as long as their catalog snapshot), not on every request.
    @cached_property
    def request_inputs(self) -> dict[str, ValueType]:
        return {k: v for spec in self.on_demand for k, v in spec.inputs.items()}

    @cached_property
    def batch_views(self) -> dict[str, list[FeatureSpec]]:
        """The batch views this plan reads, with their features, in first-use order."""
        on_demand = {spec.name for spec in self.on_demand}
        views: dict[str, list[FeatureSpec]] = {}
        for spec in self.features:
            if spec.view not in on_demand:
                views.setdefault(spec.view, []).append(spec)
        return views


def plan_version(name: str, features: list[FeatureSpec]) -> str:
    """``name@hash``: the hash of the features' names and types, so any change shows."""
    text = "\n".join(f"{f.ref}:{f.type.name}" for f in features)
    return f"{name}@{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Catalog:
    """One immutable snapshot of the registry's serving metadata."""

    views: dict[str, ViewSpec]
    on_demand: dict[str, OnDemandSpec]
    services: dict[str, ServicePlan]


def value_type(feast_type: Any) -> ValueType:
    """Our wire type for a Feast type; unsupported types are an error at load time, not at request."""
    from feast import types

    scalar = {
        types.Int64: ValueType.INT64,
        types.Int32: ValueType.INT64,
        types.Float64: ValueType.DOUBLE,
        types.Float32: ValueType.DOUBLE,
        types.String: ValueType.STRING,
        types.Bool: ValueType.BOOL,
    }
    if feast_type in scalar:
        return scalar[feast_type]
    if isinstance(feast_type, types.Array) and feast_type.base_type in (types.Float32, types.Float64):
        return ValueType.FLOAT_VECTOR
    raise ValueError(f"feature type {feast_type} is not servable")


def _ttl_seconds(view: Any) -> int:
    return int(view.ttl.total_seconds()) if view.ttl else 0


def load_catalog(store: Any) -> Catalog:
    """Read every feature view, on-demand view and feature service of the store's project."""
    project = store.project
    registry = store.registry
    views: dict[str, ViewSpec] = {}
    for view in registry.list_feature_views(project, allow_cache=False):
        join_keys = [c.name for c in view.entity_columns]
        if len(join_keys) != 1:
            logger.warning("view %s has %d join keys; not servable", view.name, len(join_keys))
            continue
        views[view.name] = ViewSpec(
            name=view.name,
            join_key=join_keys[0],
            ttl_seconds=_ttl_seconds(view),
            features={f.name: value_type(f.dtype) for f in view.features},
        )
    on_demand: dict[str, OnDemandSpec] = {}
    for odfv in registry.list_on_demand_feature_views(project, allow_cache=False):
        inputs = {
            f.name: value_type(f.dtype)
            for source in odfv.source_request_sources.values()
            for f in source.schema
        }
        if odfv.source_feature_view_projections:
            logger.warning("on-demand view %s reads batch views; not servable", odfv.name)
            continue
        on_demand[odfv.name] = OnDemandSpec(
            name=odfv.name,
            inputs=inputs,
            outputs={f.name: value_type(f.dtype) for f in odfv.features},
            transform=odfv.feature_transformation.udf,
        )
    services: dict[str, ServicePlan] = {}
    for service in registry.list_feature_services(project, allow_cache=False):
        features: list[FeatureSpec] = []
        used_on_demand: list[OnDemandSpec] = []
        servable = True
        for projection in service.feature_view_projections:
            if projection.name in views:
                ttl = views[projection.name].ttl_seconds
            elif projection.name in on_demand:
                ttl = 0
                used_on_demand.append(on_demand[projection.name])
            else:
                servable = False
                break
            request_time = projection.name in on_demand
            features += [
                FeatureSpec(projection.name, f.name, value_type(f.dtype), ttl, request_time)
                for f in projection.features
            ]
        if servable:
            services[service.name] = ServicePlan(
                service.name, plan_version(service.name, features), features, used_on_demand
            )
    return Catalog(views=views, on_demand=on_demand, services=services)


def plan_for_refs(catalog: Catalog, refs: list[str]) -> ServicePlan:
    """A plan for explicit ``view:feature`` references; raises ValueError / KeyError naming the bad one."""
    features: list[FeatureSpec] = []
    used: dict[str, OnDemandSpec] = {}
    for ref in refs:
        view, sep, name = ref.partition(":")
        if not sep or not view or not name or ":" in name:
            raise ValueError(f"malformed feature reference {ref!r} (expected 'view:feature')")
        if view in catalog.views:
            spec = catalog.views[view]
            if name not in spec.features:
                raise KeyError(f"unknown feature {ref!r}")
            features.append(FeatureSpec(view, name, spec.features[name], spec.ttl_seconds))
        elif view in catalog.on_demand:
            odfv = catalog.on_demand[view]
            if name not in odfv.outputs:
                raise KeyError(f"unknown feature {ref!r}")
            used[view] = odfv
            features.append(FeatureSpec(view, name, odfv.outputs[name], 0, request_time=True))
        else:
            raise KeyError(f"unknown feature view {view!r} in {ref!r}")
    if len({f.ref for f in features}) != len(features):
        raise ValueError("feature references must not repeat")
    return ServicePlan("", plan_version("", features), features, list(used.values()))


def lookup_signal(join_key: str) -> tuple[str, str]:
    """(view, feature) whose value, for a content item, is its ``join_key`` (e.g. creator_id)."""
    table, signal = key_lookup(join_key, (CONTENT.join_key,))
    return table.name, signal.name


class CatalogCache:
    """The current :class:`Catalog`, refreshed in the background every ``refresh_seconds``."""

    def __init__(self, load: Callable[[], Catalog], refresh_seconds: float) -> None:
        self._load = load
        self._catalog = load()  # the first load happens before serving starts, never on a request
        self._loop = RefreshLoop(self.refresh, refresh_seconds, "catalog-refresh")
        self.refreshes = 0
        self.last_error: str | None = None

    @property
    def current(self) -> Catalog:
        return self._catalog

    def refresh(self) -> None:
        """Load a new snapshot and swap it in; on failure keep the last good one."""
        try:
            catalog = self._load()
        except Exception as exc:  # any registry failure: keep serving what we have
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("registry refresh failed, serving the previous catalog: %s", self.last_error)
            return
        self._catalog = catalog  # one reference assignment: readers see old or new, never half
        self.refreshes += 1
        self.last_error = None

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
