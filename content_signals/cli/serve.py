"""CLI command ``serve``: the gRPC server in the foreground until a signal stops it."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from content_signals.cli.common import config_of, say
from content_signals.errors import SignalsError


def serve(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="gRPC port (default from config: 9000).")] = None,
    serve_config: Annotated[
        Path | None,
        typer.Option(help="Deployment settings: a serve deploy file (infra/serve/serve_config.yaml)."),
    ] = None,
) -> None:
    """Serve features and scores over gRPC with Ray Serve until interrupted (Ctrl-C drains)."""
    from content_signals.serving import server

    config = config_of(ctx)
    if port is not None:
        config = config.model_copy(update={"serving": config.serving.model_copy(update={"grpc_port": port})})
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    if serve_config is not None and not serve_config.exists():
        raise SignalsError(f"serve config {serve_config} does not exist")
    server.start(config, progress=say, serve_config=serve_config)
    say("press Ctrl-C to stop")
    stop_requested.wait()
    say("draining and stopping")
    server.stop()
