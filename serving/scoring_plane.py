"""Score and ListModels, independent of any transport, as :mod:`content_signals.serving.data_plane` is for
GetOnlineFeatures.

A Score request names a model (and optionally a version), content ids and request-time inputs.
The plane chooses the version, checks the caller's team may call the model, builds the network's
input (request-time text for a text classifier, else the model's feature service read from the
online store), runs the network through a :class:`ModelRunner` (Ray Serve handles in production)
and applies the version's decision policy. An item the store has no row of in any of the model's
views, scored without request inputs, gets no score (NaN) and no decision: the network never sees
it, because its answer would rest on the training means alone. The plane takes and returns plain
Python values and raises :mod:`content_signals.serving.errors`; the gRPC servicer only converts
messages and maps those errors to codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from content_signals.definitions import Decision
from content_signals.models.decisions import DecisionThresholds
from content_signals.models.networks import TEXT_CLASSIFIER, ModelCard
from content_signals.models.policy import SafetyPolicy
from content_signals.serving.auth import Authorizer
from content_signals.serving.data_plane import (
    FeatureDataPlane,
    FeatureRequest,
    RequestValues,
    validate_content_ids,
)
from content_signals.serving.errors import Unavailable
from content_signals.serving.scoring import (
    ModelVersions,
    choose_model,
    found_items,
    model_inputs,
    score_outputs,
    scored_items,
    text_inputs,
)


class ModelRunner(Protocol):
    """Runs a model version's network on its inputs: (outputs, items in the forward pass). Outputs
    are :func:`~content_signals.serving.scoring.forward_pass`'s: one score per item for feature
    models, class probabilities (items x classes) for text classifiers."""

    async def predict(
        self, model: str, version: str, inputs: np.ndarray | list[str]
    ) -> tuple[np.ndarray, int]: ...


@dataclass(frozen=True)
class ScoreRequest:
    model: str
    content_ids: Sequence[str]
    # Empty: the model's default version (the promoted one, else the newest).
    model_version: str = ""
    request_inputs: Mapping[str, RequestValues] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreResult:
    """One entry per content id in every list, in request order."""

    model: str
    model_version: str
    content_ids: list[str]
    # NaN for an item with nothing to score it on: not found and no request inputs (see
    # :func:`~content_signals.serving.scoring.scored_items`), rather than a score made up from the
    # training means alone.
    scores: list[float]
    # Features with no usable online value, imputed with their training mean (0 for text models).
    missing_features: list[int]
    # Does the online store hold the item at all? (Request-time text is always found.)
    found: list[bool]
    # UNSPECIFIED and threshold 0 throughout for a version without a decision policy, and for an
    # item without a score.
    decisions: list[Decision]
    decision_thresholds: list[float]
    policy: DecisionThresholds | None
    # Items in the forward pass this request rode in: the model deployment batches requests.
    batch_items: int
    # Text classifiers: category names, and per item its probability of each (empty when unscored
    # or for feature models); per item the category and one-line reason of its decision, and
    # whether the version's policy suggests the explicit label.
    categories: list[str] = field(default_factory=list)
    category_scores: list[list[float]] = field(default_factory=list)
    decision_categories: list[str] = field(default_factory=list)
    decision_reasons: list[str] = field(default_factory=list)
    explicit_suggested: list[bool] = field(default_factory=list)
    category_policy: SafetyPolicy | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    # The version a request without one gets.
    default_version: str
    # Every served version, oldest first.
    versions: list[str]
    feature_service: str
    policy: DecisionThresholds | None
    categories: list[str] = field(default_factory=list)
    category_policy: SafetyPolicy | None = None


class ScoringPlane:
    """Scores content with the served models; the team's grants decide which models it may call."""

    def __init__(
        self,
        models: dict[str, ModelVersions],
        data_plane: FeatureDataPlane,
        runner: ModelRunner | None,
        authorizer: Authorizer,
    ) -> None:
        self.models = models
        self.data_plane = data_plane
        self.runner = runner
        self.authorizer = authorizer

    async def score(self, request: ScoreRequest, team: str | None) -> ScoreResult:
        """Scores and decisions; raises InvalidRequest, NotFound, PermissionDenied or Unavailable."""
        model = choose_model(self.models, request.model, request.model_version)
        card = model.card
        self.authorizer.check_model(team, card.name)
        if self.runner is None:
            raise Unavailable("no model replicas are running")
        inputs: np.ndarray | list[str]
        if card.kind == TEXT_CLASSIFIER:
            # Request-time text: nothing is read from the store, so every item counts as found.
            content_ids = validate_content_ids(request.content_ids, self.data_plane.max_entities)
            inputs = text_inputs(card, request.request_inputs, len(content_ids))
            missing, found = [0] * len(content_ids), [True] * len(content_ids)
        else:
            # A team granted the model may read the features it scores with: no feature check.
            features = await self.data_plane.read(
                FeatureRequest(
                    content_ids=request.content_ids,
                    feature_service=card.feature_service,
                    request_inputs=request.request_inputs,
                )
            )
            content_ids = features.content_ids
            inputs, missing = model_inputs(card, features)
            found = found_items(features)
        outputs, batch_items = await self._predict(card, inputs, scored_items(found, request.request_inputs))
        scored = score_outputs(model, outputs)
        decided = scored.decided
        probabilities = scored.category_probabilities
        return ScoreResult(
            model=card.name,
            model_version=card.version,
            content_ids=content_ids,
            scores=[float(s) for s in scored.scores],
            missing_features=missing,
            found=found,
            decisions=[Decision(int(d)) for d in decided.decisions],
            decision_thresholds=decided.thresholds.tolist(),
            policy=card.decision_thresholds,
            batch_items=batch_items,
            categories=model.categories,
            category_scores=(
                [[] if np.isnan(row).any() else row.tolist() for row in probabilities]
                if probabilities is not None
                else [[] for _ in content_ids]
            ),
            decision_categories=decided.categories,
            decision_reasons=decided.reasons(),
            explicit_suggested=decided.explicit_suggested.tolist(),
            category_policy=model.policy,
        )

    async def _predict(
        self, card: ModelCard, inputs: np.ndarray | list[str], scored: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Scores of the ``scored`` items (NaN for the rest, which never reach the network) and
        the items in the forward pass they rode in (0 when none was needed)."""
        assert self.runner is not None
        if scored.all():
            return await self.runner.predict(card.name, card.version, inputs)
        if not scored.any():
            return np.full(len(scored), np.nan, dtype=np.float32), 0
        assert isinstance(inputs, np.ndarray)  # request-time text is always scored
        predicted, batch_items = await self.runner.predict(card.name, card.version, inputs[scored])
        scores = np.full(len(scored), np.nan, dtype=predicted.dtype)
        scores[scored] = predicted
        return scores, batch_items

    def list_models(self, team: str | None) -> list[ModelInfo]:
        """The models the team may call, by name, each described by its default version."""
        infos = []
        for name, versions in sorted(self.models.items()):
            if not self.authorizer.may_score(team, name):
                continue
            served = versions.default
            default = served.card
            infos.append(
                ModelInfo(
                    name=name,
                    default_version=default.version,
                    versions=versions.ordered,
                    feature_service=default.feature_service,
                    policy=default.decision_thresholds,
                    categories=served.categories,
                    category_policy=served.policy,
                )
            )
        return infos
