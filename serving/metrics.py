"""Prometheus metrics of the gRPC ingress: per-RPC latency, outcomes by status code, request sizes,
online-store read time and model batch sizes. One registry per server, so nothing collides with
Ray's or Feast's own metrics in the same process."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass
class ServingMetrics:
    registry: CollectorRegistry
    latency: Histogram
    requests: Counter
    entities: Histogram
    store_read: Histogram
    model_batch: Histogram
    in_flight: Gauge


def serving_metrics() -> ServingMetrics:
    registry = CollectorRegistry(auto_describe=True)
    return ServingMetrics(
        registry=registry,
        latency=Histogram(
            "content_signals_rpc_latency_seconds",
            "Server-side latency of each RPC, by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        requests=Counter(
            "content_signals_rpc_requests",
            "RPCs answered, by method and gRPC status code (OK or the error).",
            ["method", "code"],
            registry=registry,
        ),
        entities=Histogram(
            "content_signals_request_entities",
            "Content ids per request, by method.",
            ["method"],
            buckets=_SIZE_BUCKETS,
            registry=registry,
        ),
        store_read=Histogram(
            "content_signals_online_store_read_seconds",
            "Time spent reading the online store per request (including decoding).",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        model_batch=Histogram(
            "content_signals_model_batch_items",
            "Items in each forward pass the model replicas ran for a Score request.",
            ["model"],
            buckets=(*_SIZE_BUCKETS, 2000, 5000),
            registry=registry,
        ),
        in_flight=Gauge(
            "content_signals_rpc_in_flight", "RPCs being worked on by this replica.", registry=registry
        ),
    )
