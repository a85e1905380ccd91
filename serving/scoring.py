"""Model scoring, independent of any transport: which models exist, and how online features
become the network's input tensor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models import CARD_FILE, ModelCard, latest_version
from serving.errors import InvalidRequest, NotFound
from serving.features import OnlineFeatures, Status


@dataclass(frozen=True)
class ServedModel:
    card: ModelCard
    path: Path


def discover_models(layout: DataLayout) -> dict[str, ServedModel]:
    """The latest version of every trained model under the data directory."""
    import json

    models: dict[str, ServedModel] = {}
    root = layout.root / "models"
    for model_root in sorted(root.iterdir()) if root.exists() else []:
        version = latest_version(model_root)
        if version is None:
            continue
        path = model_root / version
        card = ModelCard(**json.loads((path / CARD_FILE).read_text()))
        models[card.name] = ServedModel(card=card, path=path)
    return models


def choose_model(models: dict[str, ServedModel], name: str) -> ServedModel:
    if not name:
        raise InvalidRequest("model must be set")
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise NotFound(f"unknown model {name!r} (served models: {known})")
    return models[name]


def model_inputs(card: ModelCard, features: OnlineFeatures) -> tuple[np.ndarray, list[int]]:
    """Standardised float32 inputs, one row per id, and the count of imputed features per row.

    A feature with no online value is imputed with its training mean, which is 0 after
    standardisation; the count lets callers see how much of a score rests on imputation.
    """
    try:
        columns = [features.feature_names.index(name) for name in card.features]
    except ValueError as exc:
        raise SignalsError(
            f"model {card.name} {card.version} needs features that {features.feature_service} "
            f"does not serve: {exc}"
        ) from exc
    means = np.asarray(card.feature_means, dtype=np.float64)
    stds = np.asarray(card.feature_stds, dtype=np.float64)
    raw = np.full((len(features.rows), len(columns)), np.nan)
    for i, row in enumerate(features.rows):
        for j, column in enumerate(columns):
            cell = row[column]
            if cell.status == Status.PRESENT and cell.value is not None:
                raw[i, j] = float(cell.value)
    missing = np.isnan(raw).sum(axis=1).astype(int).tolist()
    standardised = np.nan_to_num((raw - means) / stds, nan=0.0).astype(np.float32)
    return standardised, missing
