"""The gRPC server of one ingress replica: ContentSignalsService, standard health checking, server
reflection, optional TLS and a Prometheus endpoint.

Why not Serve's own gRPC proxy: it listens in plaintext only (ray-project/ray#34103), has no hook
for per-team authentication, and adds a hop (proxy → replica) that costs more than the whole
online read. Each ingress replica runs this server instead; replicas on one node share the port
(gRPC sets SO_REUSEPORT), and the model deployments stay behind Serve's handles and batching.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from content_signals.config import PlatformConfig
from content_signals.feature_repo.online_stores import OnlineStore, configured_online_store
from content_signals.layout import DataLayout
from content_signals.serving.auth import Authorizer
from content_signals.serving.catalog import CatalogCache, load_catalog
from content_signals.serving.data_plane import FeatureDataPlane
from content_signals.serving.grpc_service import SERVICE_NAME, ContentSignalsServicer, service_handler
from content_signals.serving.metrics import serving_metrics
from content_signals.serving.scoring import ModelVersions
from content_signals.serving.scoring_plane import ModelRunner, ScoringPlane
from content_signals.serving.similarity_plane import IndexCache, QueryEncoder, SimilarityPlane

logger = logging.getLogger("content_signals.serving")

# Large responses (1,000 ids x 50 features) stay far below this; it bounds what a client can send.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass
class SignalsServer:
    server: grpc.aio.Server
    port: int
    servicer: ContentSignalsServicer
    health: health.aio.HealthServicer
    catalog: CatalogCache
    store: OnlineStore
    index: IndexCache

    async def stop(self, grace_s: float) -> None:
        """Stop taking requests (health turns NOT_SERVING first), let in-flight ones finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        self.catalog.stop()
        self.index.stop()
        await self.store.close()


def _credentials(config: PlatformConfig) -> grpc.ServerCredentials | None:
    tls = config.serving.tls
    if tls is None:
        return None
    return grpc.ssl_server_credentials([(tls.key_path.read_bytes(), tls.cert_path.read_bytes())])


async def start_server(
    config: PlatformConfig,
    models: dict[str, ModelVersions],
    runner: ModelRunner | None,
    port: int | None = None,
    encoder: QueryEncoder | None = None,
) -> SignalsServer:
    """Build and start the server on ``port`` (default: the config's; 0 picks a free one).

    ``encoder`` embeds SimilarContent's request-time text; without one, SimilarContent answers
    content-id queries only. The ``content_embedding`` vector index is opened memory-mapped here
    (when a version exists) and refreshed in the background.
    """
    from content_signals.feature_repo.repo import feature_store

    settings = config.serving
    store = feature_store(config)
    catalog = CatalogCache(lambda: load_catalog(store), float(config.feast.registry.cache_ttl_seconds))
    catalog.start()
    reader = configured_online_store(config)
    metrics = serving_metrics()
    if settings.metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(settings.metrics_port, registry=metrics.registry)
        except OSError as exc:  # another replica on this node serves the port
            logger.warning("metrics port %d unavailable: %s", settings.metrics_port, exc)
    authorizer = Authorizer(settings.teams)
    data_plane = FeatureDataPlane(catalog, reader, settings.max_entities_per_request, settings.enforce_ttl)
    scoring = ScoringPlane(models, data_plane, runner, authorizer)
    index = IndexCache(
        DataLayout(config.data_dir),
        config.similarity.refresh_seconds,
        expansion_search=config.similarity.expansion_search,
    )
    index.start()
    similarity = SimilarityPlane(index, data_plane, authorizer, config.similarity.max_k, encoder)
    servicer = ContentSignalsServicer(settings, authorizer, data_plane, scoring, metrics, similarity)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 1),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_requests * 2,
    )
    server.add_generic_rpc_handlers((service_handler(servicer),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (
        SERVICE_NAME,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(names, server)
    address = f"{settings.host}:{settings.grpc_port if port is None else port}"
    credentials = _credentials(config)
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    logger.info("gRPC on %s (%s)", address, "TLS" if credentials else "plaintext")
    return SignalsServer(server, bound, servicer, health_servicer, catalog, reader, index)
