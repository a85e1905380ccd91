"""Hand-built model cards for the tests that need a stored version without training one."""

from __future__ import annotations

from typing import Any

from content_signals.models.networks import TEXT_CLASSIFIER, ModelCard


def safety_card(version: str, **fields: Any) -> ModelCard:
    """A safety text classifier's card with the fields every such test shares; ``fields`` set or
    override the rest (metrics, encoder, thresholds, ...)."""
    shared: dict[str, Any] = {
        "name": "safety",
        "version": version,
        "feature_service": "",
        "features": [],
        "feature_means": [],
        "feature_stds": [],
        "hidden_units": [4],
        "target": "class",
        "training_partition": "corpus.csv",
        "trained_at": "2026-12-07T00:00:00+00:00",
        "kind": TEXT_CLASSIFIER,
        "classes": ["hate", "offensive", "neither"],
    }
    return ModelCard(**{**shared, **fields})
