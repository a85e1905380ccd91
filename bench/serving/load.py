"""The load-generator process: one contender's client, sequential requests and closed loops."""

from __future__ import annotations

from typing import Any

from bench.serving.common import GOAL_SIZE, MAX_IDS_IN_FLIGHT, load_requests
from bench.serving.feast_serve import http_client
from bench.serving.ours import grpc_client
from bench.serving.timing import closed_loop, sequential


def load_side(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["kind"]
    requests = load_requests(spec)
    result: dict[str, Any] = {"refs": spec["refs"], "sizes": {}}
    if kind == "http":
        sync_call, make_async, bodies_of, sample = http_client(spec)
    else:
        sync_call, make_async, bodies_of, sample = grpc_client(spec)
    for size in spec["sizes"]:
        bodies = bodies_of(requests[str(size)])
        figures: dict[str, Any] = {"n": 0}
        if spec["latency_requests"]:
            figures = sequential(sync_call, bodies, spec["latency_requests"], spec["time_cap"])
        loops = {}
        levels = [c for c in spec["levels"] if c * size <= MAX_IDS_IN_FLIGHT] or spec["levels"][:1]
        for level in levels:
            loops[str(level)] = closed_loop(make_async, bodies, level, spec["duration"], spec["watch"])
        figures["closed_loops"] = loops
        best = max(loops, key=lambda k: loops[k]["qps"])
        candidates = [loops[best]["qps"], figures.get("seq_qps", 0.0)]
        figures["max_qps"] = max(candidates)
        figures["best_level"] = int(best) if loops[best]["qps"] >= figures.get("seq_qps", 0.0) else 1
        figures["errors"] = sum(loop["errors"] for loop in loops.values())
        figures["cpu_cores"] = loops[best].get("cpu_cores", {})
        result["sizes"][str(size)] = figures
    if kind != "score" and str(GOAL_SIZE) in requests and spec["latency_requests"]:
        result["sample"] = sample(requests[str(GOAL_SIZE)][0])
    return result
