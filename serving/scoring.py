"""Model scoring's parts, independent of any transport: which models and versions are served, how
online features become the network's input tensor, and how a policy model's score becomes a
decision. :mod:`content_signals.serving.scoring_plane` puts them together into a Score request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from content_signals.definitions import Decision
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models.decisions import CategoryDecided, categories_of, decide, decide_version
from content_signals.models.networks import TEXT_CLASSIFIER, ModelCard, TextClassifierHead
from content_signals.models.policy import SafetyPolicy, read_policy
from content_signals.models.registry import (
    default_of,
    ordered_versions,
    promoted_version,
    read_card,
    stored_versions,
)
from content_signals.serving.data_plane import FeatureResult
from content_signals.serving.decoding import NOT_FOUND, PRESENT
from content_signals.serving.errors import InvalidRequest, NotFound
from content_signals.text import normalise_text

if TYPE_CHECKING:
    import torch
    from torch import nn

    from content_signals.models.text_encoder import TextEncoder


@dataclass(frozen=True)
class ServedModel:
    card: ModelCard
    path: Path
    # The version's per-category decision policy (policy.yaml), when it stores one.
    policy: SafetyPolicy | None = None

    @property
    def categories(self) -> list[str]:
        """A text classifier's output categories (its classes, ``neither`` read as ``none``)."""
        return categories_of(self.card.classes) if self.card.kind == TEXT_CLASSIFIER else []


@dataclass(frozen=True)
class ModelVersions:
    """Every stored version of one model; ``default`` is what a request without a version gets."""

    name: str
    versions: dict[str, ServedModel]
    # The version `signals promote` chose, read when the models are loaded (a promotion reaches
    # serving at the next deployment). Unset: the newest version serves by default.
    promoted: str | None = None

    @property
    def default(self) -> ServedModel:
        chosen = default_of(self.versions, self.promoted)
        assert chosen is not None, "a model is only discovered with at least one version"
        return self.versions[chosen]

    @property
    def ordered(self) -> list[str]:
        """The versions' names, oldest first."""
        return ordered_versions(self.versions)

    def version(self, version: str) -> ServedModel:
        if not version:
            return self.default
        if version not in self.versions:
            known = ", ".join(self.ordered)
            raise NotFound(f"model {self.name!r} has no version {version!r} (versions: {known})")
        return self.versions[version]


def discover_models(layout: DataLayout) -> dict[str, ModelVersions]:
    """Every complete version (card and weights present) of every model under the data directory."""
    models: dict[str, ModelVersions] = {}
    root = layout.root / "models"
    for model_root in sorted(root.iterdir()) if root.exists() else []:
        versions: dict[str, ServedModel] = {}
        for name in stored_versions(model_root):
            card = read_card(model_root, name)
            path = model_root / name
            versions[card.version] = ServedModel(card=card, path=path, policy=read_policy(path))
        if versions:
            models[model_root.name] = ModelVersions(model_root.name, versions, promoted_version(model_root))
    return models


def choose_model(models: dict[str, ModelVersions], name: str, version: str = "") -> ServedModel:
    if not name:
        raise InvalidRequest("model must be set")
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise NotFound(f"unknown model {name!r} (served models: {known})")
    return models[name].version(version)


def model_inputs(card: ModelCard, features: FeatureResult) -> tuple[np.ndarray, list[int]]:
    """Standardised float32 inputs, one row per id, and the count of imputed features per row.

    A feature with no usable online value (not found, null, or past its TTL) is imputed with its
    training mean, which is 0 after standardisation; the count lets callers see how much of a
    score rests on imputation.
    """
    by_name = {c.spec.name: c for c in features.columns} | {c.spec.ref: c for c in features.columns}
    missing_names = [name for name in card.features if name not in by_name]
    if missing_names:
        raise SignalsError(
            f"model {card.name} {card.version} needs features that {features.feature_service} "
            f"does not serve: {', '.join(missing_names)}"
        )
    raw = np.full((len(features.content_ids), len(card.features)), np.nan)
    for j, name in enumerate(card.features):
        column = by_name[name]
        present = column.statuses == PRESENT
        if isinstance(column.values, np.ndarray):
            raw[present, j] = column.values[present].astype(np.float64)
    means = np.asarray(card.feature_means, dtype=np.float64)
    stds = np.asarray(card.feature_stds, dtype=np.float64)
    missing = np.isnan(raw).sum(axis=1).astype(int).tolist()
    standardised = np.nan_to_num((raw - means) / stds, nan=0.0).astype(np.float32)
    return standardised, missing


TEXT_INPUT = "text"


def text_inputs(card: ModelCard, inputs: Mapping[str, Sequence[Any]], n: int) -> list[str]:
    """A text classifier's input: request input ``text``, one string per content id, normalised
    as in training."""
    unexpected = sorted(set(inputs) - {TEXT_INPUT})
    if unexpected:
        raise InvalidRequest(
            f"unexpected request input {unexpected[0]!r} (model {card.name} takes: {TEXT_INPUT})"
        )
    values = inputs.get(TEXT_INPUT)
    if values is None:
        raise InvalidRequest(
            f"model {card.name} scores request-time text: set request input {TEXT_INPUT!r} "
            "with one string per content id"
        )
    if len(values) != n:
        raise InvalidRequest(f"request input {TEXT_INPUT!r} has {len(values)} values for {n} content ids")
    if not all(isinstance(v, str) for v in values):
        raise InvalidRequest(f"request input {TEXT_INPUT!r} must be string values")
    return [normalise_text(v) for v in values]


def forward_pass(
    card: ModelCard,
    network: nn.Module,
    inputs: np.ndarray | list[str],
    encoder: TextEncoder | None,
    device: torch.device,
) -> np.ndarray:
    """A feature model's probability per item (in [0, 1]), or a text classifier's class
    probabilities (items x classes, rows summing to 1). bf16 autocast on GPU."""
    import torch

    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    with torch.inference_mode(), autocast:
        if card.kind == TEXT_CLASSIFIER:
            if encoder is None:
                raise SignalsError(f"{card.name} {card.version} needs the text encoder")
            if not isinstance(network, TextClassifierHead):
                raise SignalsError(f"{card.name} {card.version} is not a text classifier")
            texts = list(inputs)
            embeddings = torch.from_numpy(encoder.encode(texts)).to(device)
            return torch.softmax(network.text_logits(texts, embeddings).float(), dim=1).cpu().numpy()
        assert isinstance(inputs, np.ndarray)
        return torch.sigmoid(network(torch.from_numpy(inputs).to(device))).float().cpu().numpy()


def found_items(features: FeatureResult) -> list[bool]:
    """Per item: does the online store hold a row of it in any of the features' views?"""
    found = np.zeros(len(features.content_ids), dtype=bool)
    for column in features.columns:
        if not column.spec.request_time:
            found |= column.statuses != NOT_FOUND
    return found.tolist()


def scored_items(found: Sequence[bool], request_inputs: Mapping[str, Sequence[Any]]) -> np.ndarray:
    """Per item: is there anything to score it on? A row in one of the model's views (``found``)
    or request-time inputs (one value per item when given at all). An item with neither would get
    the network's answer for the training means: a confident-looking number about nothing."""
    return np.asarray(found, dtype=bool) | bool(request_inputs)


@dataclass(frozen=True)
class Scored:
    """What a forward pass's outputs mean for each item: its score (NaN when not scored), a text
    classifier's category probabilities (None for feature models), and the version's decision."""

    scores: np.ndarray
    category_probabilities: np.ndarray | None
    decided: CategoryDecided


def score_outputs(model: ServedModel, outputs: np.ndarray) -> Scored:
    """A text classifier's score is its unsafe probability, 1 - P(none), and it decides by the
    version's policy (per category when it stores one, else its single-score thresholds: see
    :func:`~content_signals.models.decisions.decide_version`); a feature model's score is its
    output, decided by its thresholds if it has any. UNSPECIFIED (threshold 0) for a model without
    a policy and for an unscored (NaN) item."""
    card = model.card
    if card.kind == TEXT_CLASSIFIER:
        probabilities = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), len(card.classes))
        scores = 1.0 - probabilities[:, model.categories.index("none")]
        if model.policy is None and card.decision_thresholds is None:
            decided = _undecided(len(scores))
        else:
            decided = decide_version(probabilities, card.classes, model.policy, card.decision_thresholds)
        return Scored(scores, probabilities, decided)
    scores = np.asarray(outputs)
    plain = decide(scores, card.decision_thresholds)
    categories = [""] * len(scores)
    return Scored(
        scores,
        None,
        CategoryDecided(plain.decisions, categories, plain.thresholds, np.zeros(len(scores), bool)),
    )


def _undecided(n: int) -> CategoryDecided:
    return CategoryDecided(
        np.full(n, Decision.UNSPECIFIED, dtype=np.int8), [""] * n, np.zeros(n), np.zeros(n, dtype=bool)
    )


def decisions(card: ModelCard, scores: np.ndarray) -> tuple[list[Decision], list[float]]:
    """ALLOW / REVIEW / BLOCK per single score from the card's stored thresholds, and the threshold
    that decided each; UNSPECIFIED (and 0) for a model without thresholds and for a NaN score."""
    decided = decide(scores, card.decision_thresholds)
    return [Decision(int(d)) for d in decided.decisions], decided.thresholds.tolist()
