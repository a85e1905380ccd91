"""Start and stop the serving stack: a Ray cluster (local by default), Serve with native gRPC
ingress, and the application from :mod:`serving.app`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from content_signals.config import PlatformConfig
from content_signals.errors import SignalsError

APP_NAME = "content_signals"


@dataclass(frozen=True)
class RunningServer:
    target: str
    cluster_gpus: float
    startup_seconds: float


def wait_until_serving(target: str, timeout_s: float) -> None:
    """Poll grpc.health.v1.Health/Check until it answers SERVING."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    with grpc.insecure_channel(target) as channel:
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


def start(
    config: PlatformConfig,
    progress: Callable[[str], None] = lambda _line: None,
    ready_timeout_s: float = 180.0,
) -> RunningServer:
    """Start Ray (or join ``config.ray.address``), deploy the app, and wait until it is healthy."""
    import ray
    from ray import serve
    from ray.serve.config import gRPCOptions

    from serving.app import GRPC_SERVICER_FUNCTIONS, build_app

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
        grpc_options=gRPCOptions(
            port=config.serving.grpc_port,
            grpc_servicer_functions=GRPC_SERVICER_FUNCTIONS,
            request_timeout_s=config.serving.request_timeout_s,
        ),
        http_options={"host": "127.0.0.1", "port": 0},
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    serve.run(build_app(config, cluster_gpus), name=APP_NAME, route_prefix="/", blocking=False)
    target = f"127.0.0.1:{config.serving.grpc_port}"
    wait_until_serving(target, ready_timeout_s)
    seconds = time.perf_counter() - started
    progress(f"serving gRPC on {config.serving.host}:{config.serving.grpc_port} ({seconds:.1f}s)")
    return RunningServer(target=target, cluster_gpus=cluster_gpus, startup_seconds=seconds)


def stop() -> None:
    """Drain and stop Serve, then Ray. In-flight requests finish before replicas exit."""
    import ray
    from ray import serve

    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()
