"""A diagnostic: our ingress's gRPC server in a plain Python process, without Ray."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.serving.common import GOAL_SIZE, run_child, start_child
from bench.serving.timing import redis_pids


def measure_plain(
    root: Path, config_path: Path, port: int, common: dict[str, Any], timing: dict[str, Any]
) -> dict[str, Any]:
    """Our ingress's gRPC server (``serving.grpc_server.start_server``) in a plain Python process,
    no Ray: how much of ours is the server's own code and how much the replica around it."""
    from content_signals.serving.server import wait_until_serving

    handle = start_child("plain", {"config": str(config_path), "port": port}, root)
    proc = handle[0]
    try:
        wait_until_serving(f"127.0.0.1:{port}", 120.0)
        watch = {"server": [proc.pid], "redis": redis_pids()}
        spec = {
            **common,
            **timing,
            "kind": "grpc",
            "target": f"127.0.0.1:{port}",
            "sizes": [GOAL_SIZE],
            "watch": watch,
        }
        return run_child("load", spec, root)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        handle[1].close()


def plain_server(spec: dict[str, Any]) -> None:
    import asyncio

    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.serving.grpc_server import start_server

    config = load_config(Path(spec["config"]))
    prepare_process(config)

    async def serve() -> None:
        server = await start_server(config, {}, None, port=spec["port"])
        await server.server.wait_for_termination()

    asyncio.run(serve())
