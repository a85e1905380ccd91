"""ContentSignalsService over gRPC: protos in, protos out, errors as status codes.

Everything a request does is in the transport-free core (:mod:`content_signals.serving.data_plane`
for features, :mod:`content_signals.serving.scoring_plane` for models,
:mod:`content_signals.serving.similarity_plane` for similar content,
:mod:`content_signals.serving.auth`); this module converts messages,
enforces the per-replica limits (concurrency, deadlines), records metrics and one structured log
line per request, and maps every failure to a status code. No input may crash the server: an unexpected
exception becomes INTERNAL with the request id, and is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import grpc
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc
from google.protobuf.message import DecodeError

from content_signals.config import ServingConfig
from content_signals.models.decisions import DecisionThresholds
from content_signals.models.policy import SafetyPolicy
from content_signals.serving.auth import Authorizer
from content_signals.serving.catalog import ValueType
from content_signals.serving.data_plane import (
    FeatureColumn,
    FeatureDataPlane,
    FeatureRequest,
    FeatureResult,
)
from content_signals.serving.errors import (
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    RequestError,
    Unauthenticated,
    Unavailable,
)
from content_signals.serving.metrics import ServingMetrics
from content_signals.serving.scoring_plane import ModelInfo, ScoreRequest, ScoreResult, ScoringPlane
from content_signals.serving.similarity_plane import SimilarityPlane, SimilarRequest, SimilarResult

access_log = logging.getLogger("content_signals.access")
logger = logging.getLogger("content_signals.serving")

SERVICE_NAME = "content_signals.v1.ContentSignalsService"
REQUEST_ID_KEY = "x-request-id"
_CODES: dict[type[RequestError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

Response = TypeVar("Response")


def request_inputs(fields: Mapping[str, pb.RequestInput]) -> dict[str, list[Any]]:
    """The one typed list each RequestInput sets; INVALID_ARGUMENT when it sets several."""
    inputs: dict[str, list[Any]] = {}
    for name, value in fields.items():
        lists = [
            list(values)
            for values in (value.string_values, value.double_values, value.int64_values, value.bool_values)
            if len(values)
        ]
        if len(lists) > 1:
            raise InvalidRequest(f"request input {name!r} sets more than one value list")
        inputs[name] = lists[0] if lists else []
    return inputs


def feature_column(column: FeatureColumn) -> pb.FeatureColumn:
    message = pb.FeatureColumn(
        name=column.spec.ref,
        type=cast(pb.ValueType, int(column.spec.type)),
        statuses=column.statuses.tolist(),
        event_timestamps_us=column.micros.tolist(),
    )
    values = column.values
    kind = column.spec.type
    if kind == ValueType.INT64:
        message.int64_values.extend(values.tolist())
    elif kind == ValueType.DOUBLE:
        message.double_values.extend(values.tolist())
    elif kind == ValueType.BOOL:
        message.bool_values.extend(values.tolist())
    elif kind == ValueType.STRING:
        message.string_values.extend(values)
    else:
        message.vector_values.extend(pb.FloatVector(values=v) for v in values)
    return message


def features_response(result: FeatureResult) -> pb.GetOnlineFeaturesResponse:
    return pb.GetOnlineFeaturesResponse(
        feature_service=result.feature_service,
        feature_service_version=result.version,
        feature_names=result.feature_names,
        content_ids=result.content_ids,
        columns=[feature_column(c) for c in result.columns],
    )


def decision_policy(
    thresholds: DecisionThresholds | None, categories: SafetyPolicy | None
) -> pb.DecisionPolicy:
    """The version's single-score thresholds and, when it stores one, its per-category policy."""
    message = pb.DecisionPolicy()
    if thresholds is not None:
        message.review_threshold, message.block_threshold = thresholds.review, thresholds.block
    if categories is not None:
        for rule in categories.rules:
            message.rules.append(
                pb.CategoryRule(
                    category=rule.category,
                    block_at=rule.block_at,
                    review_at=rule.review_at,
                    review_only_if_not_explicit=rule.review_only_if_not_explicit,
                    explicit_at=rule.explicit_at,
                )
            )
        if categories.deployment is not None:
            message.calibrated_on = categories.deployment.catalogue
            message.deployment_prevalence.update(categories.deployment.prevalence)
    return message


def score_response(result: ScoreResult) -> pb.ScoreResponse:
    response = pb.ScoreResponse(
        model=result.model,
        model_version=result.model_version,
        scores=[
            pb.ContentScore(
                content_id=cid,
                score=s,
                missing_features=m,
                decision=cast(pb.Decision, int(d)),
                decision_threshold=t,
                found=f,
                category_scores=[
                    pb.CategoryScore(category=c, probability=p)
                    for c, p in zip(result.categories, row, strict=False)
                ],
                decision_category=category,
                decision_reason=reason,
                explicit_suggested=explicit,
            )
            for cid, s, m, d, t, f, row, category, reason, explicit in zip(
                result.content_ids,
                result.scores,
                result.missing_features,
                result.decisions,
                result.decision_thresholds,
                result.found,
                result.category_scores,
                result.decision_categories,
                result.decision_reasons,
                result.explicit_suggested,
                strict=True,
            )
        ],
    )
    if result.policy is not None or result.category_policy is not None:
        response.policy.CopyFrom(decision_policy(result.policy, result.category_policy))
    return response


def model_info(info: ModelInfo) -> pb.ModelInfo:
    message = pb.ModelInfo(
        name=info.name,
        version=info.default_version,
        versions=info.versions,
        feature_service=info.feature_service,
        categories=info.categories,
    )
    if info.policy is not None or info.category_policy is not None:
        message.policy.CopyFrom(decision_policy(info.policy, info.category_policy))
    return message


def similar_request(request: pb.SimilarContentRequest) -> SimilarRequest:
    return SimilarRequest(
        content_id=request.content_id,
        text=request.text,
        k=request.k,
        content_types=list(request.content_types),
        exclude_same_creator=request.exclude_same_creator,
        exclude_blocked=request.exclude_blocked,
        min_similarity=request.min_similarity if request.HasField("min_similarity") else None,
        creator_id=request.creator_id,
    )


def similar_response(result: SimilarResult) -> pb.SimilarContentResponse:
    return pb.SimilarContentResponse(
        items=[
            pb.SimilarItem(
                content_id=item.content_id,
                similarity=item.similarity,
                content_type=item.content_type,
                creator_id=item.creator_id,
            )
            for item in result.items
        ],
        index_version=result.index_version,
        query_content_id=result.query_content_id,
    )


class ContentSignalsServicer(pb_grpc.ContentSignalsServiceServicer):
    def __init__(
        self,
        settings: ServingConfig,
        authorizer: Authorizer,
        data_plane: FeatureDataPlane,
        scoring: ScoringPlane,
        metrics: ServingMetrics,
        similarity: SimilarityPlane | None = None,
    ) -> None:
        self.settings = settings
        self.authorizer = authorizer
        self.data_plane = data_plane
        self.scoring = scoring
        self.metrics = metrics
        self.similarity = similarity
        self.in_flight = 0

    async def _handle(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        entities: int,
        empty: Response,
        work: Callable[[str | None], Awaitable[Response]],
    ) -> Response:
        """Limits, auth, deadline, metrics and the access log around one RPC."""
        started = time.perf_counter()
        metadata = tuple(context.invocation_metadata() or ())
        request_id = next((str(v) for k, v in metadata if k == REQUEST_ID_KEY), "") or uuid.uuid4().hex
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        code = grpc.StatusCode.OK
        details = ""
        team: str | None = None
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            if self.in_flight > self.settings.max_concurrent_requests:
                raise Overloaded(
                    f"server busy: {self.in_flight - 1} requests in flight "
                    f"(limit {self.settings.max_concurrent_requests}); retry with backoff"
                )
            team = self.authorizer.team(metadata)
            remaining = context.time_remaining()
            budget = (
                self.settings.request_timeout_s
                if remaining is None
                else min(remaining, self.settings.request_timeout_s)
            )
            try:
                async with asyncio.timeout(budget):
                    return await work(team)
            except TimeoutError:
                code, details = (
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"deadline of {budget * 1000:.0f} ms exceeded",
                )
        except RequestError as exc:
            code, details = _CODES.get(type(exc), grpc.StatusCode.INTERNAL), str(exc)
        except Exception:
            logger.exception("request %s (%s) failed", request_id, method)
            code, details = grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})"
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            self.metrics.latency.labels(method).observe(seconds)
            self.metrics.requests.labels(method, code.name).inc()
            self.metrics.entities.labels(method).observe(entities)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "method": method,
                            "code": code.name,
                            "ms": round(seconds * 1000, 3),
                            "entities": entities,
                            "team": team,
                            "peer": context.peer(),
                            **({"error": details} if details else {}),
                        }
                    )
                )
        context.set_code(code)
        context.set_details(details)
        return empty

    async def _read(self, request: FeatureRequest, team: str | None) -> FeatureResult:
        authorize = self.authorizer.plan_check(team, self.data_plane.catalog)
        started = time.perf_counter()
        result = await self.data_plane.read(request, authorize)
        self.metrics.store_read.observe(time.perf_counter() - started)
        return result

    async def GetOnlineFeatures(
        self, request: pb.GetOnlineFeaturesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOnlineFeaturesResponse:
        async def work(team: str | None) -> pb.GetOnlineFeaturesResponse:
            feature_request = FeatureRequest(
                content_ids=list(request.content_ids),
                feature_service=request.feature_service,
                feature_refs=list(request.feature_refs),
                request_inputs=request_inputs(request.request_inputs),
            )
            return features_response(await self._read(feature_request, team))

        return await self._handle(
            "GetOnlineFeatures", context, len(request.content_ids), pb.GetOnlineFeaturesResponse(), work
        )

    async def Score(self, request: pb.ScoreRequest, context: grpc.aio.ServicerContext) -> pb.ScoreResponse:
        async def work(team: str | None) -> pb.ScoreResponse:
            score_request = ScoreRequest(
                model=request.model,
                content_ids=list(request.content_ids),
                model_version=request.model_version,
                request_inputs=request_inputs(request.request_inputs),
            )
            result = await self.scoring.score(score_request, team)
            self.metrics.model_batch.labels(result.model).observe(result.batch_items)
            return score_response(result)

        return await self._handle("Score", context, len(request.content_ids), pb.ScoreResponse(), work)

    async def ListFeatureServices(
        self, request: pb.ListFeatureServicesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListFeatureServicesResponse:
        async def work(team: str | None) -> pb.ListFeatureServicesResponse:
            services = self.data_plane.catalog.current.services
            return pb.ListFeatureServicesResponse(
                feature_services=[
                    pb.FeatureServiceInfo(
                        name=plan.name,
                        version=plan.version,
                        features=[
                            pb.FeatureInfo(
                                name=f.ref,
                                type=cast(pb.ValueType, int(f.type)),
                                max_age_seconds=f.ttl_seconds,
                            )
                            for f in plan.features
                        ],
                        request_inputs={
                            k: cast(pb.ValueType, int(v)) for k, v in plan.request_inputs.items()
                        },
                    )
                    for name, plan in sorted(services.items())
                    if self.authorizer.may_read(team, name)
                ]
            )

        return await self._handle("ListFeatureServices", context, 0, pb.ListFeatureServicesResponse(), work)

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        async def work(team: str | None) -> pb.ListModelsResponse:
            return pb.ListModelsResponse(models=[model_info(m) for m in self.scoring.list_models(team)])

        return await self._handle("ListModels", context, 0, pb.ListModelsResponse(), work)

    async def SimilarContent(
        self, request: pb.SimilarContentRequest, context: grpc.aio.ServicerContext
    ) -> pb.SimilarContentResponse:
        async def work(team: str | None) -> pb.SimilarContentResponse:
            if self.similarity is None:
                raise Unavailable("this server does not serve SimilarContent")
            return similar_response(await self.similarity.similar(similar_request(request), team))

        return await self._handle("SimilarContent", context, 1, pb.SimilarContentResponse(), work)


_REQUEST_TYPES: dict[str, Any] = {
    "GetOnlineFeatures": (pb.GetOnlineFeaturesRequest, pb.GetOnlineFeaturesResponse),
    "Score": (pb.ScoreRequest, pb.ScoreResponse),
    "ListFeatureServices": (pb.ListFeatureServicesRequest, pb.ListFeatureServicesResponse),
    "ListModels": (pb.ListModelsRequest, pb.ListModelsResponse),
    "SimilarContent": (pb.SimilarContentRequest, pb.SimilarContentResponse),
}


def _serialize(response: Any) -> bytes:
    return response.SerializeToString()  # type: ignore[no-any-return]


def service_handler(servicer: ContentSignalsServicer) -> grpc.GenericRpcHandler:
    """The service's methods, decoding requests here rather than in gRPC: bytes that are not a valid
    request get INVALID_ARGUMENT (with metrics and a log line) instead of gRPC's bare error."""

    def method(name: str, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
        implementation = getattr(servicer, name)

        async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                request = request_type.FromString(raw)
            except DecodeError:

                async def refuse(_team: str | None) -> Any:
                    raise InvalidRequest(
                        f"malformed {request_type.DESCRIPTOR.name}: not a valid protobuf message"
                    )

                return await servicer._handle(name, context, 0, response_type(), refuse)
            return await implementation(request, context)

        return grpc.unary_unary_rpc_method_handler(handle, response_serializer=_serialize)

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME, {name: method(name, *types) for name, types in _REQUEST_TYPES.items()}
    )
