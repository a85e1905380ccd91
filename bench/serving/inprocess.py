"""In one process: the raw forward pass (Score's baseline) and the ingress's GetOnlineFeatures handler
awaited without transport or Ray, with a cProfile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.serving.common import GOAL_SIZE, load_requests


class _Context:
    """Just enough of ``grpc.aio.ServicerContext`` to call the servicer's handlers in process."""

    def __init__(self) -> None:
        self.code: Any = None
        self.details = ""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def time_remaining(self) -> float | None:
        return None

    def set_trailing_metadata(self, _metadata: Any) -> None:
        return None

    def set_code(self, code: Any) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def peer(self) -> str:
        return "in-process"


def inprocess_side(spec: dict[str, Any]) -> dict[str, Any]:
    """The raw forward pass; the ingress's GetOnlineFeatures handler called in process (no gRPC
    transport, no Ray: the servicer that ``start_server`` builds, on a real Redis); its cProfile."""
    import asyncio
    import cProfile
    import io
    import pstats

    import grpc
    import torch
    from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb

    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.layout import DataLayout
    from content_signals.models.networks import load_model
    from content_signals.serving.data_plane import FeatureRequest
    from content_signals.serving.grpc_server import start_server
    from content_signals.serving.scoring import discover_models, model_inputs

    config = load_config(Path(spec["config"]))
    prepare_process(config)
    requests = load_requests(spec)
    served = discover_models(DataLayout(config.data_dir))["engagement"].default
    card, network = load_model(served.path)
    torch.set_num_threads(1)
    score_ids = requests[str(spec["score_ids"])][0]["ids"]
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(start_server(config, {}, None, port=0))
    servicer, plane = server.servicer, server.servicer.data_plane

    async def handle(body: Any) -> bytes:
        context = _Context()
        response = await servicer.GetOnlineFeatures(body, context)  # type: ignore[arg-type]
        if context.code not in (None, grpc.StatusCode.OK):
            raise RuntimeError(f"in-process GetOnlineFeatures: {context.code}: {context.details}")
        return response if isinstance(response, bytes) else response.SerializeToString()

    def bodies(size: int) -> list[Any]:
        return [
            pb.GetOnlineFeaturesRequest(content_ids=r["ids"], feature_refs=spec["refs"])
            for r in requests[str(size)]
        ]

    async def timed(items: list[Any], count: int) -> tuple[float, float]:
        for body in items[:10]:
            await handle(body)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(count):
            await handle(items[i % len(items)])
        return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count

    async def score_path(count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            request = FeatureRequest(content_ids=score_ids, feature_service=card.feature_service)
            x = torch.from_numpy(model_inputs(card, await plane.read(request))[0])
            with torch.inference_mode():
                torch.sigmoid(network(x)).numpy()
        return (time.perf_counter() - started) / count

    request = FeatureRequest(content_ids=score_ids, feature_service=card.feature_service)
    inputs = torch.from_numpy(model_inputs(card, loop.run_until_complete(plane.read(request)))[0])
    # The raw forward pass, as a model replica runs it (inference mode, sigmoid, back to numpy).
    with torch.inference_mode():
        for _ in range(200):
            torch.sigmoid(network(inputs)).numpy()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < 2.0:
            torch.sigmoid(network(inputs)).numpy()
            count += 1
        forward_s = (time.perf_counter() - started) / count
    handler: dict[str, dict[str, float]] = {}
    for size in spec["sizes"]:
        wall_s, cpu_s = loop.run_until_complete(timed(bodies(size), 300 if size <= GOAL_SIZE else 60))
        handler[str(size)] = {"wall_ms": round(wall_s * 1000, 3), "cpu_ms": round(cpu_s * 1000, 3)}
    score_s = loop.run_until_complete(score_path(200))
    profiler = cProfile.Profile()
    goal_bodies = bodies(GOAL_SIZE)
    profiler.enable()
    loop.run_until_complete(timed(goal_bodies, 300))
    profiler.disable()
    loop.run_until_complete(server.stop(0))
    loop.close()
    table: dict[Any, Any] = pstats.Stats(profiler, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    calls_total = 310
    top = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in sorted(
        table.items(), key=lambda kv: -kv[1][2]
    )[:20]:
        top.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls_per_request": round(calls / calls_total, 1),
                "tottime_ms_per_request": round(tottime / calls_total * 1000, 3),
                "cumtime_ms_per_request": round(cumtime / calls_total * 1000, 3),
            }
        )
    return {
        "forward_items_per_s": round(spec["score_ids"] / forward_s, 1),
        "forward_us_per_batch": round(forward_s * 1e6, 1),
        "model_inputs": list(inputs.shape),
        "handler": handler,
        "read_ms": handler.get(str(GOAL_SIZE), {}).get("wall_ms", float("nan")),
        "score_path_ms": round(score_s * 1000, 3),
        "score_path_items_per_s": round(spec["score_ids"] / score_s, 1),
        "note": (
            "handler: ContentSignalsServicer.GetOnlineFeatures awaited in process (the servicer "
            "start_server builds, real Redis, no gRPC transport, no Ray), wall and CPU ms per "
            "request, response serialised; score_path: data_plane.read(ranking_v1) + model_inputs + "
            "forward in one process"
        ),
        "cprofile_top_tottime": top,
    }
