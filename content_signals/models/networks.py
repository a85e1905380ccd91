"""Model artifacts: a torch module, its weights as safetensors, and a JSON card naming its inputs.

Nothing here unpickles anything: weights load with ``safetensors``, the architecture is rebuilt
from the JSON and a text classifier's n-gram vocabularies are Parquet tables, so a model file can
never execute code on the serving host.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from content_signals.errors import SignalsError
from content_signals.models.decisions import NEVER, DecisionThresholds
from content_signals.models.text_features import NgramBatch, NgramFeatures

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model.json"
# A version's predictions on its held-out test split: what `signals evaluate` reports from.
TEST_PREDICTIONS_FILE = "test_predictions.parquet"
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
    # "text_classifier" (a sentence embedding from ``text_encoder`` plus n-gram TF-IDF features of
    # the same text, one logit per class).
    kind: str = FEATURE_MLP
    classes: list[str] = field(default_factory=list)
    # The encoder a text classifier's embeddings must come from (name, dimension, weights digest).
    text_encoder: dict[str, Any] = field(default_factory=dict)
    # Held-out evaluation beyond scalar metrics (test split fingerprint, confusion matrix, ...).
    evaluation: dict[str, Any] = field(default_factory=dict)
    # A text classifier's n-gram vocabulary size (its wide input; stored beside the weights).
    ngram_features: int = 0

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

    @property
    def decision_thresholds(self) -> DecisionThresholds | None:
        """The stored policy for :func:`content_signals.models.decisions.decide`; None: scores only."""
        if self.review_threshold is None or self.block_threshold is None:
            return None
        return DecisionThresholds(review=self.review_threshold, block=self.block_threshold)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


class EngagementNet(nn.Module):
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
    """Wide and deep: an MLP over the sentence embedding ("deep") and a linear model over n-gram
    TF-IDF features of the same text ("wide"), averaged as log-probabilities, divided by a
    temperature and shifted by a per-class bias, both fitted on validation data so the
    probabilities are calibrated (:mod:`content_signals.models.safety_calibration`). The output is
    log-probabilities up to a constant: softmax of it gives the class probabilities. Versions saved
    before the temperature existed load with temperature 1 (:func:`load_model`), unchanged.

    The wide part is an ``EmbeddingBag`` (one weight row per n-gram, summed with the TF-IDF values
    as weights), so a batch costs only its non-zero features. ``ngrams`` (the fitted vocabularies)
    travels with the weights: :func:`load_model` attaches it.
    """

    def __init__(self, embedding_dim: int, hidden_units: list[int], n_classes: int, n_ngrams: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(0.15)]
        width = embedding_dim
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(0.3)]
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.deep = nn.Sequential(*layers)
        self.wide = nn.EmbeddingBag(max(n_ngrams, 1), n_classes, mode="sum")
        nn.init.zeros_(self.wide.weight)
        self.wide_bias = nn.Parameter(torch.zeros(n_classes))
        self.register_buffer("class_bias", torch.zeros(n_classes))
        self.register_buffer("temperature", torch.ones(1))
        self.ngrams: NgramFeatures | None = None

    def deep_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.deep(embeddings)  # type: ignore[no-any-return]

    def wide_logits(self, ngrams: NgramBatch) -> torch.Tensor:
        summed = self.wide(ngrams.indices, ngrams.offsets, per_sample_weights=ngrams.weights)
        return summed + self.wide_bias  # type: ignore[no-any-return]

    def forward(self, embeddings: torch.Tensor, ngrams: NgramBatch) -> torch.Tensor:
        return self.uncalibrated(embeddings, ngrams) / self.temperature + self.class_bias  # type: ignore[operator]

    def uncalibrated(self, embeddings: torch.Tensor, ngrams: NgramBatch) -> torch.Tensor:
        """The two parts' averaged log-probabilities, before temperature and class bias."""
        wide = torch.log_softmax(self.wide_logits(ngrams).float(), dim=1)
        deep = torch.log_softmax(self.deep_logits(embeddings).float(), dim=1)
        return 0.5 * wide + 0.5 * deep

    def text_logits(self, texts: list[str], embeddings: torch.Tensor) -> torch.Tensor:
        """Logits for normalised ``texts`` and their embeddings (on the embeddings' device)."""
        if self.ngrams is None:
            raise SignalsError("the text classifier has no n-gram vocabulary attached")
        return self(embeddings, self.ngrams.batch(texts).to(embeddings.device))  # type: ignore[no-any-return]

    def probabilities(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities on the CPU, in evaluation mode, as every scorer computes them."""
        self.eval()
        with torch.no_grad():
            logits = self.text_logits(texts, torch.from_numpy(np.ascontiguousarray(embeddings, np.float32)))
            return torch.softmax(logits, dim=1).numpy()  # type: ignore[no-any-return]


def build_network(card: ModelCard) -> nn.Module:
    if card.kind == TEXT_CLASSIFIER:
        return TextClassifierHead(
            int(card.text_encoder["dimension"]), card.hidden_units, len(card.classes), card.ngram_features
        )
    return EngagementNet(len(card.features), card.hidden_units)


def save_model(
    model_root: Path, card: ModelCard, network: nn.Module, extra_files: dict[str, bytes] | None = None
) -> Path:
    """Write weights, card and ``extra_files`` (held-out predictions, ...) to a temporary folder
    and rename it into place (atomic): a version is complete or absent. ``card.version`` names
    the folder; :func:`content_signals.models.registry.next_version` chooses it."""
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
    state = load_file(str(weights_path))
    if isinstance(network, TextClassifierHead) and "temperature" not in state:
        # Saved before calibration had a temperature: 1 leaves its output exactly as it was.
        state["temperature"] = torch.ones(1)
    network.load_state_dict(state)
    if isinstance(network, TextClassifierHead):
        network.ngrams = NgramFeatures.load(model_dir)
    network.eval()
    return card, network
