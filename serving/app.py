"""The Ray Serve application: a gRPC ingress deployment plus one batched model deployment per model.

``SignalsIngress`` replicas each run the gRPC server of :mod:`content_signals.serving.grpc_server` (the online
feature path runs entirely inside it); Score sends its input tensors to the model's
``Model_<name>`` deployment, where ``@serve.batch`` merges concurrent requests into one forward
pass. When a ``content_embedding`` vector index exists, a batched ``TextEncoder`` deployment embeds
SimilarContent's request-time text with the configured encoder (the ingress loads the index itself,
memory-mapped, so content-id queries take no extra hop). ``app_builder`` is what ``serve deploy
infra/serve/serve_config.yaml`` imports; ``signals serve`` builds the same application with
:func:`build_app` and the same deployment settings.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ray import serve
from ray.serve.handle import DeploymentHandle

from content_signals.config import PlatformConfig, load_config
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.serving.errors import Overloaded
from content_signals.serving.scoring import discover_models, forward_pass
from content_signals.serving.similarity_plane import INDEX_TABLE
from content_signals.similarity.index import newest_index

logger = logging.getLogger("content_signals.serving")

INGRESS = "SignalsIngress"
TEXT_ENCODER = "TextEncoder"
APP_NAME = "content_signals"
DRAIN_GRACE_S = 10.0


def model_deployment_name(model: str) -> str:
    return f"Model_{model}"


class ModelReplica:
    """Runs every stored version of one model: GPU when the replica was given one (bf16 autocast),
    CPU otherwise. Text classifiers embed request-time text with the configured encoder first."""

    def __init__(
        self,
        versions: dict[str, str],
        max_batch_size: int,
        batch_wait_timeout_s: float,
        text_encoder_json: str | None = None,
    ) -> None:
        import torch

        from content_signals.config import TextEncoderConfig
        from content_signals.models.networks import TEXT_CLASSIFIER, load_model
        from content_signals.models.text_encoder import TextEncoder, check_encoder_matches

        torch.set_num_threads(1)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        loaded = {version: load_model(Path(path)) for version, path in versions.items()}
        self.cards = {version: card for version, (card, _) in loaded.items()}
        self.networks = {version: network.to(self.device) for version, (_, network) in loaded.items()}
        self.encoder: TextEncoder | None = None
        text_cards = [card for card in self.cards.values() if card.kind == TEXT_CLASSIFIER]
        if text_cards:
            config = TextEncoderConfig.model_validate_json(text_encoder_json or "{}")
            self.encoder = TextEncoder(config.model_copy(update={"device": self.device.type}))
            for card in text_cards:
                check_encoder_matches(
                    card.name, card.version, card.text_encoder.get("weights_sha256"), self.encoder
                )
        # @serve.batch wraps the method in an object that accepts new settings at run time.
        self.predict.set_max_batch_size(max_batch_size)  # type: ignore[attr-defined]
        self.predict.set_batch_wait_timeout_s(batch_wait_timeout_s)  # type: ignore[attr-defined]
        logger.info("model versions %s on %s", sorted(self.networks), self.device)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def predict(
        self, requests: list[tuple[str, np.ndarray | list[str]]]
    ) -> list[tuple[np.ndarray, int]]:
        """One forward pass per version present in the batch; each caller gets its rows back and
        the number of items the pass it rode in held."""
        results: list[tuple[np.ndarray, int]] = [(np.zeros(0, dtype=np.float32), 0)] * len(requests)
        for version in {v for v, _ in requests}:
            members = [i for i, (v, _) in enumerate(requests) if v == version]
            batches = [requests[i][1] for i in members]
            inputs: np.ndarray | list[str] = (
                [text for batch in batches for text in batch]
                if isinstance(batches[0], list)
                else np.concatenate(batches)
            )
            scores = forward_pass(
                self.cards[version], self.networks[version], inputs, self.encoder, self.device
            )
            parts = np.split(scores, np.cumsum([len(b) for b in batches])[:-1])
            for i, part in zip(members, parts, strict=True):
                results[i] = (part, len(scores))
        return results


class HandleRunner:
    """Score's model calls, through Serve handles to the model deployments."""

    def __init__(self, handles: dict[str, DeploymentHandle]) -> None:
        self.handles = handles

    async def predict(
        self, model: str, version: str, inputs: np.ndarray | list[str]
    ) -> tuple[np.ndarray, int]:
        from ray.serve.exceptions import BackPressureError

        try:
            scores, items = await self.handles[model].predict.remote((version, inputs))
        except BackPressureError as exc:  # the model deployment's max_queued_requests is reached
            raise Overloaded(f"model {model!r} is overloaded: {exc}; retry with backoff") from exc
        return scores, items


class TextEncoderReplica:
    """Embeds SimilarContent's request-time text with the configured encoder (the one the daily
    index job embeds the catalogue with); ``@serve.batch`` merges concurrent texts into one pass."""

    def __init__(self, text_encoder_json: str, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        import torch

        from content_signals.config import TextEncoderConfig
        from content_signals.models.text_encoder import TextEncoder

        torch.set_num_threads(1)
        config = TextEncoderConfig.model_validate_json(text_encoder_json)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.encoder = TextEncoder(config.model_copy(update={"device": device}))
        self.embed.set_max_batch_size(max_batch_size)  # type: ignore[attr-defined]
        self.embed.set_batch_wait_timeout_s(batch_wait_timeout_s)  # type: ignore[attr-defined]
        logger.info("text encoder %s on %s", self.encoder.info.weights_sha256, device)

    def weights_digest(self) -> str:
        return self.encoder.info.weights_sha256

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def embed(self, texts: list[str]) -> list[np.ndarray]:
        return list(self.encoder.encode(texts))


class HandleEncoder:
    """SimilarContent's :class:`~content_signals.serving.similarity_plane.QueryEncoder`, through a
    Serve handle to the ``TextEncoder`` deployment."""

    def __init__(self, handle: DeploymentHandle, digest: str) -> None:
        self.handle = handle
        self._digest = digest

    @property
    def digest(self) -> str:
        return self._digest

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        from ray.serve.exceptions import BackPressureError

        try:
            rows = await asyncio.gather(*(self.handle.embed.remote(text) for text in texts))
        except BackPressureError as exc:
            raise Overloaded(f"the text encoder is overloaded: {exc}; retry with backoff") from exc
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)


class SignalsIngress:
    """Runs one gRPC server per replica; drains it when Serve stops the replica."""

    # Serve awaits an async constructor: the gRPC server must start on the replica's event loop.
    async def __init__(  # type: ignore[misc]
        self,
        config_json: str,
        model_handles: dict[str, DeploymentHandle],
        encoder_handle: DeploymentHandle | None = None,
    ) -> None:
        from content_signals.serving.grpc_server import start_server

        config = PlatformConfig.model_validate_json(config_json)
        models = {n: m for n, m in discover_models(DataLayout(config.data_dir)).items() if n in model_handles}
        encoder = None
        if encoder_handle is not None:
            encoder = HandleEncoder(encoder_handle, await encoder_handle.weights_digest.remote())
        self.server = await start_server(config, models, HandleRunner(model_handles), encoder=encoder)

    async def check_health(self) -> None:
        """Serve restarts the replica if its gRPC server has stopped answering health checks."""
        from grpc_health.v1 import health_pb2

        reply = await self.server.health.Check(health_pb2.HealthCheckRequest(service=""), None)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError("gRPC server not serving")

    async def __del__(self) -> None:
        server = getattr(self, "server", None)  # absent when __init__ failed
        if server is not None:
            await server.stop(DRAIN_GRACE_S)


def model_gpus(requested: float, cluster_gpus: float) -> float:
    """GPUs each model replica asks for: the configured number if the cluster has them, else 0.

    A replica asking for a GPU the cluster does not have never starts and never errors, so the
    fallback to CPU happens here, before deploying, with a warning.
    """
    if requested > 0 and cluster_gpus < requested:
        warnings.warn(
            f"serving.model_num_gpus={requested} but the Ray cluster has {cluster_gpus:g} GPUs: "
            "model replicas run on CPU",
            RuntimeWarning,
            stacklevel=2,
        )
        return 0.0
    return requested


def available_resources(actor: dict[str, Any], cluster: dict[str, float]) -> dict[str, Any]:
    """Drop custom resources the cluster lacks (with a warning), as for GPUs: a replica asking for
    one would wait forever. The serve config pins the ingress to ``signals_ingress`` nodes on a
    cluster; a local Ray has no such node and runs it anywhere."""
    wanted = dict(actor.get("resources") or {})
    missing = {name: amount for name, amount in wanted.items() if cluster.get(name, 0) < amount}
    if not missing:
        return actor
    warnings.warn(
        f"the Ray cluster lacks resources {missing}: placing the replica without them",
        RuntimeWarning,
        stacklevel=2,
    )
    return {**actor, "resources": {k: v for k, v in wanted.items() if k not in missing}}


def deployment_settings(serve_config: Path | None) -> dict[str, dict[str, Any]]:
    """Per-deployment settings of the ``content_signals`` application in a ``serve deploy`` file."""
    if serve_config is None:
        return {}
    try:
        document = yaml.safe_load(serve_config.read_text())
        [application] = [a for a in document["applications"] if a["name"] == APP_NAME]
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise SignalsError(f"{serve_config}: no usable '{APP_NAME}' application ({exc})") from exc
    return {
        d["name"]: {k: v for k, v in d.items() if k != "name"} for d in application.get("deployments", [])
    }


def build_app(
    config: PlatformConfig, cluster: dict[str, float], settings: dict[str, dict[str, Any]] | None = None
) -> Any:
    """The bound Serve application: the ingress, one model deployment per model and, when a
    ``content_embedding`` vector index exists, the text encoder deployment of SimilarContent.

    ``cluster`` is the Ray cluster's resources; ``settings`` the serve config's per-deployment ones.
    """
    settings = settings or {}
    cluster_gpus = float(cluster.get("GPU", 0))
    serving = config.serving
    handles = {}
    for name, versions in discover_models(DataLayout(config.data_dir)).items():
        options = dict(settings.get(model_deployment_name(name), {}))
        actor = {"num_cpus": serving.model_num_cpus, **options.pop("ray_actor_options", {})}
        actor["num_gpus"] = model_gpus(max(serving.model_num_gpus, actor.get("num_gpus", 0)), cluster_gpus)
        actor = available_resources(actor, cluster)
        deployment = serve.deployment(
            name=model_deployment_name(name),
            ray_actor_options=actor,
            max_ongoing_requests=4 * serving.max_batch_size,
            graceful_shutdown_timeout_s=DRAIN_GRACE_S,
            logging_config={"enable_access_log": False},
        )(ModelReplica)
        handles[name] = deployment.options(**options).bind(
            {v: str(m.path) for v, m in versions.versions.items()},
            serving.max_batch_size,
            serving.batch_wait_timeout_s,
            config.models.text_encoder.model_dump_json(),
        )
    encoder = None
    if newest_index(DataLayout(config.data_dir), INDEX_TABLE) is not None:
        options = dict(settings.get(TEXT_ENCODER, {}))
        actor = {"num_cpus": serving.model_num_cpus, **options.pop("ray_actor_options", {})}
        actor["num_gpus"] = model_gpus(max(serving.model_num_gpus, actor.get("num_gpus", 0)), cluster_gpus)
        actor = available_resources(actor, cluster)
        deployment = serve.deployment(
            name=TEXT_ENCODER,
            ray_actor_options=actor,
            max_ongoing_requests=4 * serving.max_batch_size,
            graceful_shutdown_timeout_s=DRAIN_GRACE_S,
            logging_config={"enable_access_log": False},
        )(TextEncoderReplica)
        encoder = deployment.options(**options).bind(
            config.models.text_encoder.model_dump_json(), serving.max_batch_size, serving.batch_wait_timeout_s
        )
    options = dict(settings.get(INGRESS, {}))
    actor = {"num_cpus": serving.ingress_num_cpus, **options.pop("ray_actor_options", {})}
    actor = available_resources(actor, cluster)
    ingress = serve.deployment(
        name=INGRESS,
        ray_actor_options=actor,
        graceful_shutdown_timeout_s=DRAIN_GRACE_S + 5,
        logging_config={"enable_access_log": False},
    )(SignalsIngress)
    return ingress.options(**options).bind(config.model_dump_json(), handles, encoder)


def app_builder(args: dict[str, str]) -> Any:
    """``serve deploy`` entry point: ``args: {config: path/to/platform.yaml}``."""
    import ray

    if "config" not in args:
        raise SignalsError("serve config args must name the platform config: args: {config: ...}")
    config = load_config(Path(args["config"]))
    return build_app(config, ray.cluster_resources())
