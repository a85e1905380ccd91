"""The floor: our request done with nothing but redis-py (hiredis) and the decoder, in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.serving.common import GOAL_SIZE, load_requests
from bench.serving.timing import sequential


class Floor:
    """Our request, done with nothing but redis-py and the decoder: the lower bound in Python."""

    def __init__(self, config: Any, refs: list[str]) -> None:
        import redis

        from content_signals.feature_repo.online_stores.redis import parse_redis_connection_string
        from content_signals.feature_repo.repo import feature_store
        from content_signals.serving.catalog import load_catalog
        from content_signals.serving.catalog import lookup_signal as lookup
        from content_signals.storage_format import redis_field, redis_timestamp_field

        host, port, kwargs = parse_redis_connection_string(config.feast.online_store.connection_string)
        self.client = redis.Redis(host=host, port=port, **kwargs)
        self.project = config.feast.project.encode()
        catalog = load_catalog(feature_store(config))
        by_view: dict[str, list[str]] = {}
        for ref in refs:
            view, _, name = ref.partition(":")
            by_view.setdefault(view, []).append(name)
        self.refs = refs
        self.content = [(v, fs) for v, fs in by_view.items() if catalog.views[v].join_key == "content_id"]
        self.creator = [(v, fs) for v, fs in by_view.items() if catalog.views[v].join_key != "content_id"]
        self.creator_key = catalog.views[self.creator[0][0]].join_key if self.creator else ""
        self.lookup = lookup(self.creator_key) if self.creator else ("", "")
        self.types = {v: catalog.views[v].features for v in by_view}
        self.fields = {
            key: [f for v, fs in views for f in [*(redis_field(v, n) for n in fs), redis_timestamp_field(v)]]
            for key, views in (("content", self.content), ("creator", self.creator))
        }
        self._ts: dict[bytes, int] = {}

    def _micros(self, serialized: bytes | None) -> int:
        from content_signals.storage_format import timestamp_nanos

        if not serialized:
            return -1
        found = self._ts.get(serialized)
        if found is None:
            found = self._ts[serialized] = timestamp_nanos(serialized) // 1_000
        return found

    def _hmget(self, join_key: str, ids: list[str], fields: list[bytes]) -> list[Any]:
        from content_signals.storage_format import entity_key

        pipe = self.client.pipeline(transaction=False)
        for eid in ids:
            pipe.execute_command("HMGET", entity_key(join_key, eid) + self.project, *fields)
        replies: list[Any] = pipe.execute()
        return replies

    def _decode(self, views: list[tuple[str, list[str]]], replies: list[Any]) -> dict[str, Any]:
        from content_signals.serving.decoding import decode_columns

        types, raws, founds, names = [], [], [], []
        start = 0
        for view, features in views:
            width = len(features)
            micros = np.fromiter((self._micros(r[start + width]) for r in replies), np.int64, len(replies))
            found = micros != -1
            for f, name in enumerate(features):
                types.append(self.types[view][name])
                raws.append([r[start + f] for r in replies])
                founds.append(found)
                names.append(f"{view}:{name}")
            start += width + 1
        return dict(zip(names, decode_columns(types, raws, founds), strict=True))

    def read(self, ids: list[str]) -> dict[str, Any]:
        from content_signals.serving.decoding import PRESENT

        columns = self._decode(self.content, self._hmget("content_id", ids, self.fields["content"]))
        if self.creator:
            column = columns[f"{self.lookup[0]}:{self.lookup[1]}"]
            keys = [
                str(v) if s == PRESENT else "" for v, s in zip(column.values, column.statuses, strict=True)
            ]
            unique = list(dict.fromkeys(k for k in keys if k))
            replies = self._hmget(self.creator_key, unique, self.fields["creator"]) if unique else []
            position = {k: j for j, k in enumerate(unique)}
            empty = [None] * len(self.fields["creator"])
            fanned = [replies[position[k]] if k in position else empty for k in keys]
            columns.update(self._decode(self.creator, fanned))
        return columns


def sample_from_columns(columns: dict[str, Any], refs: list[str]) -> dict[str, list[Any]]:
    from content_signals.serving.decoding import PRESENT

    sample: dict[str, list[Any]] = {}
    for ref in refs:
        column = columns[ref]
        values = column.values.tolist() if isinstance(column.values, np.ndarray) else list(column.values)
        sample[ref] = [
            v if s == PRESENT else None for v, s in zip(values, column.statuses.tolist(), strict=True)
        ]
    return sample


def floor_side(spec: dict[str, Any]) -> dict[str, Any]:
    from content_signals.config import load_config

    config = load_config(Path(spec["config"]))
    floor = Floor(config, spec["refs"])
    requests = load_requests(spec)
    result: dict[str, Any] = {"refs": spec["refs"], "sizes": {}}
    for size in spec["sizes"]:
        bodies = [r["ids"] for r in requests[str(size)]]
        figures = sequential(floor.read, bodies, spec["latency_requests"], spec["time_cap"])
        figures["max_qps"] = figures["seq_qps"]
        result["sizes"][str(size)] = figures
    result["sample"] = sample_from_columns(floor.read(requests[str(GOAL_SIZE)][0]["ids"]), spec["refs"])
    return result
