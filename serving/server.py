"""Start and stop the serving stack: a Ray cluster (local by default), Serve, and the application
from :mod:`content_signals.serving.app`, whose ingress replicas serve gRPC themselves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from content_signals.config import PlatformConfig
from content_signals.errors import SignalsError


@dataclass(frozen=True)
class RunningServer:
    target: str
    cluster_gpus: float
    startup_seconds: float


def channel_credentials(config: PlatformConfig) -> grpc.ChannelCredentials | None:
    """Client credentials that trust the server's own certificate (for health checks and tests)."""
    tls = config.serving.tls
    return None if tls is None else grpc.ssl_channel_credentials(root_certificates=tls.cert_path.read_bytes())


def wait_until_serving(
    target: str, timeout_s: float, credentials: grpc.ChannelCredentials | None = None
) -> None:
    """Poll grpc.health.v1.Health/Check until it answers SERVING."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last_error = f"status {reply.status}"
            except grpc.RpcError as exc:
                last_error = f"{exc.code().name}: {exc.details()}"
            time.sleep(0.5)
    raise SignalsError(f"server at {target} not serving after {timeout_s:.0f}s ({last_error})")


def default_serve_config() -> Path | None:
    """The repository's ``infra/serve/serve_config.yaml`` (the file ``serve deploy`` takes), if present."""
    path = Path(__file__).resolve().parent.parent / "infra" / "serve" / "serve_config.yaml"
    return path if path.exists() else None


def start(
    config: PlatformConfig,
    progress: Callable[[str], None] = lambda _line: None,
    ready_timeout_s: float = 180.0,
    serve_config: Path | None = None,
) -> RunningServer:
    """Start Ray (or join ``config.ray.address``), deploy the app, and wait until it is healthy.

    Deployment settings (replicas, autoscaling, concurrency limits, drain) come from
    ``serve_config`` (default: :func:`default_serve_config`), the same file ``serve deploy`` takes.
    """
    import ray
    from ray import serve

    from content_signals.serving.app import APP_NAME, build_app, deployment_settings

    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(
            address=config.ray.address,
            num_cpus=config.ray.num_cpus if config.ray.address is None else None,
            include_dashboard=config.ray.include_dashboard,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
    progress(f"ray ready: {ray.cluster_resources().get('CPU', 0):g} CPUs, {cluster_gpus:g} GPUs")
    serve.start(
        http_options={"host": "127.0.0.1", "port": 0},
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    settings = deployment_settings(serve_config or default_serve_config())
    serve.run(
        build_app(config, ray.cluster_resources(), settings), name=APP_NAME, route_prefix=None, blocking=False
    )
    target = f"127.0.0.1:{config.serving.grpc_port}"
    wait_until_serving(target, ready_timeout_s, channel_credentials(config))
    seconds = time.perf_counter() - started
    scheme = "TLS" if config.serving.tls else "plaintext"
    progress(f"serving gRPC ({scheme}) on {config.serving.host}:{config.serving.grpc_port} ({seconds:.1f}s)")
    return RunningServer(target=target, cluster_gpus=cluster_gpus, startup_seconds=seconds)


def stop() -> None:
    """Drain and stop Serve, then Ray. In-flight requests finish before replicas exit."""
    import ray
    from ray import serve

    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()
