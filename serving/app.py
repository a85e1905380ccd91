"""Ray Serve deployments: a thin gRPC layer over :mod:`serving.features` and :mod:`serving.scoring`.

``SignalsIngress`` converts protos and maps errors to status codes; it answers GetOnlineFeatures
itself and sends Score's input tensors to one ``ModelReplica`` deployment per model, where
``@serve.batch`` merges concurrent requests into one forward pass.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from content_signals.config import PlatformConfig
from content_signals.layout import DataLayout
from serving.api.content_signals.v1 import content_signals_pb2 as pb
from serving.errors import InvalidRequest, NotFound, RequestError, Unavailable
from serving.features import FeatureCell, OnlineFeatureReader, Status
from serving.scoring import ServedModel, choose_model, discover_models, model_inputs

logger = logging.getLogger("content_signals.serving")

SERVICE_NAME = "content_signals.v1.ContentSignalsService"
GRPC_SERVICER_FUNCTIONS = [
    "serving.api.content_signals.v1.content_signals_pb2_grpc.add_ContentSignalsServiceServicer_to_server",
    "grpc_health.v1.health_pb2_grpc.add_HealthServicer_to_server",
]
_STATUS_CODES: dict[type[RequestError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}
_PROTO_STATUS = {
    Status.PRESENT: pb.FEATURE_STATUS_PRESENT,
    Status.NOT_FOUND: pb.FEATURE_STATUS_NOT_FOUND,
    Status.OUTSIDE_MAX_AGE: pb.FEATURE_STATUS_OUTSIDE_MAX_AGE,
}

Response = TypeVar("Response")


def _feature_value(cell: FeatureCell) -> pb.FeatureValue:
    value = pb.FeatureValue(status=_PROTO_STATUS[cell.status])
    if cell.value is not None:
        # bool before int: bool is a subclass of int in Python.
        if isinstance(cell.value, bool):
            value.bool_value = cell.value
        elif isinstance(cell.value, int):
            value.int64_value = cell.value
        elif isinstance(cell.value, float):
            value.double_value = cell.value
        else:
            value.string_value = str(cell.value)
    if cell.event_timestamp is not None:
        value.event_timestamp.FromDatetime(cell.event_timestamp)
    return value


async def _answer(grpc_context: Any, empty: Response, work: Callable[[], Awaitable[Response]]) -> Response:
    """Run ``work``; turn a request error into its status code instead of an INTERNAL error."""
    try:
        return await work()
    except RequestError as exc:
        grpc_context.set_code(_STATUS_CODES.get(type(exc), grpc.StatusCode.INTERNAL))
        grpc_context.set_details(str(exc))
        return empty


class ModelReplica:
    """Runs one model's network. GPU when the replica was given one, CPU otherwise."""

    def __init__(self, model_path: str, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        from pathlib import Path

        import torch

        from content_signals.models import load_model

        torch.set_num_threads(1)
        self._torch = torch
        self.card, network = load_model(Path(model_path))
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.network = network.to(self.device)
        # @serve.batch wraps the method in an object that accepts new settings at run time.
        self.predict.set_max_batch_size(max_batch_size)  # type: ignore[attr-defined]
        self.predict.set_batch_wait_timeout_s(batch_wait_timeout_s)  # type: ignore[attr-defined]
        logger.info("model %s %s on %s", self.card.name, self.card.version, self.device)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def predict(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        sizes = [len(b) for b in batches]
        inputs = torch.from_numpy(np.concatenate(batches)).to(self.device)
        with (
            torch.inference_mode(),
            torch.autocast(
                device_type=self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"
            ),
        ):
            scores = torch.sigmoid(self.network(inputs)).float().cpu().numpy()
        return np.split(scores, np.cumsum(sizes)[:-1])


class SignalsIngress:
    """The gRPC face of the platform: ContentSignalsService plus grpc.health.v1.Health."""

    def __init__(self, config_json: str, model_handles: dict[str, DeploymentHandle]) -> None:
        self.config = PlatformConfig.model_validate_json(config_json)
        self.reader = OnlineFeatureReader(self.config)
        self.models: dict[str, ServedModel] = {
            name: model
            for name, model in discover_models(DataLayout(self.config.data_dir)).items()
            if name in model_handles
        }
        self.model_handles = model_handles

    async def GetOnlineFeatures(
        self, request: pb.GetOnlineFeaturesRequest, grpc_context: Any = None
    ) -> pb.GetOnlineFeaturesResponse:
        async def work() -> pb.GetOnlineFeaturesResponse:
            features = await asyncio.to_thread(
                self.reader.read, request.feature_service, list(request.content_ids)
            )
            return pb.GetOnlineFeaturesResponse(
                feature_service=features.feature_service,
                feature_names=features.feature_names,
                entities=[
                    pb.EntityFeatures(content_id=cid, values=[_feature_value(c) for c in row])
                    for cid, row in zip(features.content_ids, features.rows, strict=True)
                ],
            )

        return await _answer(grpc_context, pb.GetOnlineFeaturesResponse(), work)

    async def Score(self, request: pb.ScoreRequest, grpc_context: Any = None) -> pb.ScoreResponse:
        async def work() -> pb.ScoreResponse:
            model = choose_model(self.models, request.model)
            features = await asyncio.to_thread(
                self.reader.read, model.card.feature_service, list(request.content_ids)
            )
            inputs, missing = model_inputs(model.card, features)
            scores = await self.model_handles[model.card.name].predict.remote(inputs)
            return pb.ScoreResponse(
                model=model.card.name,
                model_version=model.card.version,
                scores=[
                    pb.ContentScore(content_id=cid, score=float(s), missing_features=m)
                    for cid, s, m in zip(features.content_ids, scores, missing, strict=True)
                ],
            )

        return await _answer(grpc_context, pb.ScoreResponse(), work)

    async def Check(self, request: Any, grpc_context: Any = None) -> Any:
        """grpc.health.v1.Health/Check: SERVING once this replica has started."""
        from grpc_health.v1 import health_pb2

        if request.service not in ("", SERVICE_NAME):
            grpc_context.set_code(grpc.StatusCode.NOT_FOUND)
            grpc_context.set_details(f"unknown service {request.service!r}")
            return health_pb2.HealthCheckResponse()
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


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


def build_app(config: PlatformConfig, cluster_gpus: float) -> Any:
    """The bound Serve application: the ingress plus one model deployment per trained model."""
    serving = config.serving
    num_gpus = model_gpus(serving.model_num_gpus, cluster_gpus)
    handles = {}
    for name, model in discover_models(DataLayout(config.data_dir)).items():
        model_deployment = serve.deployment(
            name=f"Model_{name}",
            ray_actor_options={"num_cpus": serving.model_num_cpus, "num_gpus": num_gpus},
            max_ongoing_requests=4 * serving.max_batch_size,
            logging_config={"enable_access_log": False},
        )(ModelReplica)
        handles[name] = model_deployment.bind(
            str(model.path), serving.max_batch_size, serving.batch_wait_timeout_s
        )
    ingress = serve.deployment(
        name="SignalsIngress",
        ray_actor_options={"num_cpus": serving.ingress_num_cpus},
        max_ongoing_requests=64,
        logging_config={"enable_access_log": False},
    )(SignalsIngress)
    return ingress.bind(config.model_dump_json(), handles)
