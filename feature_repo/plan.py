"""``signals plan``: what ``apply`` would change in the Feast registry, in words a reviewer reads.

Feast's own plan text reports every data source and view as updated on each run (their metadata
timestamps differ) and prints whole protobufs; this keeps only real changes and names the
features that were added, removed or retyped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from content_signals.config import PlatformConfig
from content_signals.definitions import SIGNAL_TABLES, SignalTable
from content_signals.feature_repo.repo import build_objects, feature_store

_VERBS = {"CREATE": "create", "DELETE": "delete", "UPDATE": "update"}
# Feast keeps an internal placeholder entity for entity-less views; it is not ours to plan.
_INTERNAL_OBJECTS = {"__dummy"}


def plan(config: PlatformConfig, tables: Mapping[str, SignalTable] = SIGNAL_TABLES) -> list[str]:
    """One line per change that ``apply`` of ``tables`` would make; empty when nothing changes."""
    from feast.project import Project
    from feast.repo_contents import RepoContents

    objects = build_objects(config, tables)
    contents = RepoContents(
        projects=[Project(name=config.feast.project)],
        data_sources=[
            *(view.batch_source for view in objects.views if view.batch_source is not None),
            *(source for view in objects.on_demand_views for source in view.source_request_sources.values()),
        ],
        feature_views=objects.views,
        on_demand_feature_views=objects.on_demand_views,
        stream_feature_views=[],
        label_views=[],
        entities=objects.entities,
        feature_services=objects.services,
        permissions=[],
    )
    registry_diff, _, _ = feature_store(config).plan(contents)
    lines: list[str] = []
    for diff in sorted(registry_diff.feast_object_diffs, key=_review_order):
        verb = _VERBS.get(diff.transition_type.name)
        if verb is None or diff.name in _INTERNAL_OBJECTS:
            continue
        kind = diff.feast_object_type.name.lower().replace("_", " ")
        details = [d for p in diff.feast_object_property_diffs for d in _describe(p)]
        if verb == "update" and not details:
            continue  # only Feast's bookkeeping (timestamps) differs
        lines.append(f"{verb} {kind} {diff.name}")
        lines += [f"    {detail}" for detail in details]
    return lines


def _review_order(diff: Any) -> tuple[int, str]:
    """Kinds in Feast's declared order (sources, entities, views, services), names alphabetically.

    Feast's diff follows the order of its registry listings, which is not stable between runs;
    a reviewer comparing two plans needs the same change on the same line.
    """
    from feast.infra.registry.registry import FeastObjectType

    return list(FeastObjectType).index(diff.feast_object_type), diff.name


def _describe(change: Any) -> list[str]:
    """Readable lines for one changed property; none for bookkeeping-only differences."""
    name, old, new = change.property_name, change.val_existing, change.val_declared
    if name == "meta":
        return []
    if name == "batch_source":
        return [] if _without_meta(old) == _without_meta(new) else ["batch source changed"]
    if name == "features" and _is_feature_list(new):
        return _feature_changes({f.name: f.value_type for f in old}, {f.name: f.value_type for f in new})
    if name == "features":  # a feature service: projections of views
        before = {f"{p.feature_view_name}.{f.name}" for p in old for f in p.feature_columns}
        after = {f"{p.feature_view_name}.{f.name}" for p in new for f in p.feature_columns}
        return [f"+ {n}" for n in sorted(after - before)] + [f"- {n}" for n in sorted(before - after)]
    return [f"{name}: {_short(old)} -> {_short(new)}"]


def _is_feature_list(values: Any) -> bool:
    return all(hasattr(v, "value_type") for v in values)


def _feature_changes(before: dict[str, int], after: dict[str, int]) -> list[str]:
    lines = [f"+ feature {n}" for n in after if n not in before]
    lines += [f"- feature {n}" for n in before if n not in after]
    lines += [f"~ feature {n}: type changed" for n in after if n in before and before[n] != after[n]]
    return lines


def _without_meta(source: Any) -> Any:
    copy = type(source)()
    copy.CopyFrom(source)
    copy.ClearField("meta")
    return copy


def _short(value: Any, limit: int = 80) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
