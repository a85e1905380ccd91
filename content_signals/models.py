"""Model artifacts: a torch module, its weights as safetensors, and a JSON card naming its inputs.

Nothing here unpickles anything: weights load with ``safetensors`` and the architecture is rebuilt
from the JSON, so a model file can never execute code on the serving host.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from content_signals.decision_policy import NEVER
from content_signals.errors import SignalsError

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model.json"
# A version's predictions on its held-out test split: what `signals evaluate` reports from.
TEST_PREDICTIONS_FILE = "test_predictions.parquet"
_VERSION_PATTERN = re.compile(r"^v(\d+)$")
FEATURE_MLP = "feature_mlp"
TEXT_CLASSIFIER = "text_classifier"
MODEL_KINDS = (FEATURE_MLP, TEXT_CLASSIFIER)


@dataclass(frozen=True)
class ModelCard:
    """What a model needs at serving time and how it was made."""

    name: str
    version: str
    feature_service: str
    # Input features, in the order the network expects them.
    features: list[str]
    # Standardisation applied before the network: (x - mean) / std; missing values become the mean.
    feature_means: list[float]
    feature_stds: list[float]
    hidden_units: list[int]
    target: str
    training_partition: str
    trained_at: str
    metrics: dict[str, float] = field(default_factory=dict)
    # A policy model's decision thresholds on its score, chosen on validation data and stored with
    # the version: at or above review_threshold an item goes to human review, at or above
    # block_threshold it is blocked. None for models that only score.
    review_threshold: float | None = None
    block_threshold: float | None = None
    # What the network reads: "feature_mlp" (the ``features`` above, one logit per item) or
    # "text_classifier" (a sentence embedding from ``text_encoder``, one logit per class).
    kind: str = FEATURE_MLP
    classes: list[str] = field(default_factory=list)
    # The encoder a text classifier's embeddings must come from (name, dimension, weights digest).
    text_encoder: dict[str, Any] = field(default_factory=dict)
    # Held-out evaluation beyond scalar metrics (test split fingerprint, confusion matrix, ...).
    evaluation: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise SignalsError(f"model {self.name} {self.version}: unknown kind {self.kind!r}")
        if (self.review_threshold is None) != (self.block_threshold is None):
            raise SignalsError(f"model {self.name} {self.version}: set both decision thresholds or neither")
        if self.review_threshold is not None and not (
            0.0 <= self.review_threshold <= self.block_threshold <= NEVER  # type: ignore[operator]
        ):
            raise SignalsError(
                f"model {self.name} {self.version}: thresholds must satisfy 0 <= review <= block <= 1 "
                f"(or block = {NEVER}: never block)"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


class QualityNet(nn.Module):
    """A small MLP producing one logit per item."""

    def __init__(self, n_inputs: int, hidden_units: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs).squeeze(-1)


class TextClassifierHead(nn.Module):
    """A classification head: one logit per class from a sentence embedding."""

    def __init__(self, embedding_dim: int, hidden_units: list[int], n_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = embedding_dim
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(0.2)]
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)


def build_network(card: ModelCard) -> nn.Module:
    if card.kind == TEXT_CLASSIFIER:
        return TextClassifierHead(int(card.text_encoder["dimension"]), card.hidden_units, len(card.classes))
    return QualityNet(len(card.features), card.hidden_units)


def next_version(model_root: Path) -> str:
    existing = [
        int(m.group(1))
        for p in model_root.glob("v*")
        if (m := _VERSION_PATTERN.match(p.name)) and (p / CARD_FILE).exists()
    ]
    return f"v{max(existing, default=0) + 1}"


def latest_version(model_root: Path) -> str | None:
    versions = sorted(
        (int(m.group(1)), p.name)
        for p in model_root.glob("v*")
        if (m := _VERSION_PATTERN.match(p.name)) and (p / CARD_FILE).exists()
    )
    return versions[-1][1] if versions else None


def save_model(
    model_root: Path, card: ModelCard, network: nn.Module, extra_files: dict[str, bytes] | None = None
) -> Path:
    """Write weights, card and ``extra_files`` (held-out predictions, ...) to a temporary folder
    and rename it into place (atomic): a version is complete or absent."""
    target = model_root / card.version
    staging = model_root / f".{card.version}.tmp"
    staging.mkdir(parents=True, exist_ok=False)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(staging / WEIGHTS_FILE))
    (staging / CARD_FILE).write_text(card.to_json())
    for name, content in (extra_files or {}).items():
        (staging / name).write_bytes(content)
    staging.rename(target)
    return target


def load_model(model_dir: Path) -> tuple[ModelCard, nn.Module]:
    card_path, weights_path = model_dir / CARD_FILE, model_dir / WEIGHTS_FILE
    if not card_path.exists() or not weights_path.exists():
        raise SignalsError(f"no model artifact at {model_dir}")
    raw: dict[str, Any] = json.loads(card_path.read_text())
    card = ModelCard(**raw)
    network = build_network(card)
    network.load_state_dict(load_file(str(weights_path)))
    network.eval()
    return card, network
