"""SimilarContent by content id through the real gRPC server and the typed client.

Written against the RPC's contract (``SignalsClient.similar_content(content_id, k=10)``, server
``content_signals.serving.grpc_server.start_server`` over a data folder holding the index): when
the client has no ``similar_content`` yet, :func:`available` says why and the rows are skipped."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from bench.similarity.common import K, percentiles, say


def client_class() -> Any:
    import content_signals_client

    return (
        getattr(content_signals_client, "ContentSignalsClient", None) or content_signals_client.SignalsClient
    )


def available() -> str | None:
    """None when the client has SimilarContent; otherwise why the gRPC rows are skipped."""
    if not hasattr(client_class(), "similar_content"):
        return (
            f"{client_class().__name__} has no similar_content (the SimilarContent RPC is not merged "
            "yet): gRPC rows skipped"
        )
    return None


def write_config(root: Path, data_dir: Path, port: int) -> Path:
    path = root / "platform.yaml"
    document = {
        "data_dir": str(data_dir),
        "feast": {"project": "bench_similarity"},
        "serving": {"host": "127.0.0.1", "grpc_port": port, "enforce_ttl": False},
        "quality": {"data_docs": False},
    }
    path.write_text(yaml.safe_dump(document))
    return path


def server_side(spec: dict[str, Any]) -> None:
    """The child process: our gRPC server (no Ray) over the data folder with the index."""
    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.serving.grpc_server import start_server

    config = load_config(Path(spec["config"]))
    prepare_process(config)

    async def serve() -> None:
        server = await start_server(config, {}, None, port=spec["port"])
        await server.server.wait_for_termination()

    asyncio.run(serve())


def measure_grpc(
    proc: subprocess.Popen[bytes], target: str, ids: list[str], count: int, qps_seconds: float
) -> dict[str, Any]:
    from content_signals.serving.server import wait_until_serving

    wait_until_serving(target, 120.0)
    client = client_class()(target, timeout_s=30.0)
    try:
        first = client.similar_content(ids[0], k=K)
        for content_id in ids[:50]:
            client.similar_content(content_id, k=K)
        latencies = []
        found = []
        for content_id in ids[:count]:
            t0 = time.perf_counter()
            response = client.similar_content(content_id, k=K)
            latencies.append(time.perf_counter() - t0)
            found.append(_ids_of(response))
        done = [0, 0]
        stop_at = time.perf_counter() + qps_seconds

        def worker(n: int) -> None:
            i = n
            while time.perf_counter() < stop_at:
                client.similar_content(ids[i % len(ids)], k=K)
                done[n] += 1
                i += 2

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        qps = sum(done) / (time.perf_counter() - started)
    finally:
        client.close()
    say(
        f"  gRPC SimilarContent: p50 {percentiles(latencies)['p50_ms']:.2f} ms, "
        f"{qps:,.0f} QPS (2 client threads)"
    )
    return {**percentiles(latencies), "max_qps": round(qps, 1), "found": found, "first": str(first)[:400]}


def _ids_of(response: Any) -> list[str]:
    items = getattr(response, "items", response)
    return [getattr(item, "content_id", item) for item in items]
