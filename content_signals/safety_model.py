"""The ``safety`` model: hate / offensive / neither, from a text's sentence embedding.

Trained on a labelled corpus in the Davidson et al. (2017) format (``class``: 0 hate speech, 1
offensive language, 2 neither; text in ``tweet``). The split is fixed and stratified: the same
corpus and seed always give the same held-out test set, whose fingerprint is stored with the model
so two versions are only compared on the same test set. The head trains on the training part,
picks its epoch on a validation part carved from it, and is scored once on the test part.

The text is normalised (:func:`normalise_text`) before encoding, here and at serving time, so a
URL or an @mention contributes its role, not its characters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from torch import nn

from content_signals.config import PlatformConfig
from content_signals.decision_policy import choose_thresholds, policy_outcomes
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.model_evaluation import flat_metrics
from content_signals.models import (
    TEST_PREDICTIONS_FILE,
    TEXT_CLASSIFIER,
    ModelCard,
    TextClassifierHead,
    next_version,
    save_model,
)
from content_signals.text import normalise_text
from content_signals.text_encoder import TextEncoder, shared_encoder

MODEL_NAME = "safety"
CLASSES = ("hate", "offensive", "neither")
NEITHER = CLASSES.index("neither")
TEXT_COLUMN, LABEL_COLUMN = "tweet", "class"
HIDDEN_UNITS = [256]
TEST_SHARE = 0.2
VALIDATION_SHARE = 0.1
TARGET = "Davidson et al. (2017) class: 0 hate speech, 1 offensive language, 2 neither"


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: np.ndarray
    source: str
    # SHA-256 of the corpus file: a model card names exactly what it was trained on.
    sha256: str


def load_labelled_texts(path: Path, limit: int | None = None, seed: int = 0) -> LabelledTexts:
    """The corpus, checked; ``limit`` keeps a stratified sample of that many rows (for quick runs)."""
    if not path.exists():
        raise SignalsError(f"labelled corpus not found: {path}")
    frame = pd.read_csv(path)
    missing = {TEXT_COLUMN, LABEL_COLUMN} - set(frame.columns)
    if missing:
        raise SignalsError(f"{path.name} lacks column(s) {', '.join(sorted(missing))}")
    frame = frame.dropna(subset=[TEXT_COLUMN, LABEL_COLUMN])
    labels = frame[LABEL_COLUMN].to_numpy()
    bad = sorted(set(labels.tolist()) - set(range(len(CLASSES))))
    if bad:
        raise SignalsError(f"{path.name}: labels must be 0..{len(CLASSES) - 1}, found {bad[:5]}")
    if limit is not None and limit < len(frame):
        frame, _ = train_test_split(frame, train_size=limit, stratify=labels, random_state=seed)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LabelledTexts(
        texts=frame[TEXT_COLUMN].astype(str).tolist(),
        labels=frame[LABEL_COLUMN].to_numpy().astype(np.int64),
        source=path.name,
        sha256=digest,
    )


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def test_fingerprint(self) -> str:
        return hashlib.sha256(np.sort(self.test).tobytes()).hexdigest()[:16]


def held_out_split(labels: np.ndarray, seed: int = 0) -> Split:
    """Fixed stratified train / validation / test indices."""
    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=TEST_SHARE, stratify=labels, random_state=seed)
    train, validation = train_test_split(
        rest, test_size=VALIDATION_SHARE / (1 - TEST_SHARE), stratify=labels[rest], random_state=seed
    )
    return Split(train=np.sort(train), validation=np.sort(validation), test=np.sort(test))


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Weighted and macro F1, per-class precision / recall / F1, one-vs-rest ROC-AUC: the model
    card's own figures (:func:`content_signals.model_evaluation.flat_metrics`)."""
    return flat_metrics(labels, probabilities, list(CLASSES))


@dataclass(frozen=True)
class SafetyTraining:
    card: ModelCard
    path: Path
    test_metrics: dict[str, float]
    confusion: list[list[int]]


def embed_corpus(encoder: TextEncoder, texts: list[str], progress: Callable[[str], None]) -> np.ndarray:
    """Embeddings of the normalised texts, in chunks so long runs report progress."""
    chunk = 4_096
    parts = []
    started = datetime.now(UTC)
    for first in range(0, len(texts), chunk):
        parts.append(encoder.encode([normalise_text(t) for t in texts[first : first + chunk]]))
        done = min(first + chunk, len(texts))
        elapsed = (datetime.now(UTC) - started).total_seconds()
        progress(f"encoded {done:,}/{len(texts):,} texts ({done / max(elapsed, 1e-9):,.0f}/s)")
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dimension), np.float32)


def train_safety(
    config: PlatformConfig,
    corpus: LabelledTexts,
    progress: Callable[[str], None] = lambda _line: None,
    epochs: int = 40,
    seed: int = 0,
    review_labels: LabelledTexts | None = None,
) -> SafetyTraining:
    """Train a new version; ``review_labels`` (from the review loop) join the training split only,
    so the fixed test split, and comparisons between versions, are unaffected."""
    if len(set(corpus.labels.tolist())) < len(CLASSES):
        raise SignalsError("the corpus must hold every class: " + ", ".join(CLASSES))
    split = held_out_split(corpus.labels, seed)
    progress(
        f"{corpus.source}: {len(corpus.texts):,} texts; train {len(split.train):,}, "
        f"validation {len(split.validation):,}, test {len(split.test):,} (stratified, seed {seed})"
    )
    extra = review_labels or LabelledTexts([], np.zeros(0, np.int64), "no review labels", "")
    if extra.texts:
        progress(f"adding {len(extra.texts):,} labels from {extra.source} to the training split")
    encoder = shared_encoder(config.models.text_encoder)
    embeddings = embed_corpus(encoder, corpus.texts + extra.texts, progress)
    all_labels = np.concatenate([corpus.labels, extra.labels])
    training_rows = np.concatenate([split.train, np.arange(len(corpus.texts), len(all_labels))])

    torch.manual_seed(seed)
    head = TextClassifierHead(encoder.dimension, HIDDEN_UNITS, len(CLASSES))
    optimiser = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.from_numpy(embeddings)
    y = torch.from_numpy(all_labels)
    generator = np.random.default_rng(seed)
    best_f1, best_state, best_epoch = -1.0, head.state_dict(), 0
    for epoch in range(1, epochs + 1):
        head.train()
        order = generator.permutation(training_rows)
        for first in range(0, len(order), 256):
            rows = torch.from_numpy(order[first : first + 256])
            optimiser.zero_grad()
            nn.functional.cross_entropy(head(x[rows]), y[rows]).backward()
            optimiser.step()
        validation_f1 = classification_metrics(
            corpus.labels[split.validation], _probabilities(head, x[split.validation])
        )["weighted_f1"]
        if validation_f1 > best_f1:
            best_f1, best_epoch = validation_f1, epoch
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        if epoch % 10 == 0 or epoch == epochs:
            progress(f"epoch {epoch}/{epochs}: validation weighted F1 {validation_f1:.4f}")
    head.load_state_dict(best_state)

    test_labels = corpus.labels[split.test]
    test_probabilities = _probabilities(head, x[split.test])
    test_metrics = classification_metrics(test_labels, test_probabilities)
    confusion = confusion_matrix(
        test_labels, test_probabilities.argmax(axis=1), labels=list(range(len(CLASSES)))
    ).tolist()
    metrics = {f"test_{k}": v for k, v in test_metrics.items()}
    metrics |= {
        "validation_weighted_f1": best_f1,
        "best_epoch": float(best_epoch),
        "training_rows": float(len(training_rows)),
        "review_label_rows": float(len(extra.texts)),
    }

    # The decision policy: thresholds on the unsafe probability, chosen on validation data.
    targets = config.models.decision_targets
    thresholds = choose_thresholds(
        unsafe_score(_probabilities(head, x[split.validation])),
        corpus.labels[split.validation] != NEITHER,
        targets.block_precision,
        targets.review_recall,
    )
    outcomes = policy_outcomes(unsafe_score(test_probabilities), test_labels != NEITHER, thresholds)
    metrics |= {f"test_policy_{k}": v for k, v in outcomes.items()}
    progress(
        f"decision policy: review at {thresholds.review:.3f}, block at {thresholds.block:.3f}; on test "
        f"{outcomes['automation_rate']:.1%} decided without review, block precision "
        f"{outcomes['block_precision']:.3f}, unsafe allowed unreviewed {outcomes['missed_positive_rate']:.1%}"
    )
    model_root = DataLayout(config.data_dir).model_dir(MODEL_NAME)
    card = ModelCard(
        name=MODEL_NAME,
        version=next_version(model_root),
        feature_service="",
        features=[],
        feature_means=[],
        feature_stds=[],
        hidden_units=HIDDEN_UNITS,
        target=TARGET,
        training_partition=f"{corpus.source}@sha256:{corpus.sha256[:16]}"
        + (f" + {len(extra.texts)} review labels ({extra.source})" if extra.texts else ""),
        trained_at=datetime.now(UTC).isoformat(),
        metrics=metrics,
        kind=TEXT_CLASSIFIER,
        classes=list(CLASSES),
        text_encoder={
            "name": encoder.info.name,
            "dimension": encoder.info.dimension,
            "max_seq_length": encoder.info.max_seq_length,
            "weights_sha256": encoder.info.weights_sha256,
        },
        evaluation={
            "test_split_fingerprint": split.test_fingerprint,
            "test_confusion": confusion,
            "score": "unsafe probability: 1 - P(neither)",
            "decision_targets": targets.model_dump(),
        },
        review_threshold=thresholds.review,
        block_threshold=thresholds.block,
    )
    predictions = pd.DataFrame(
        {
            "row": split.test,
            "label": test_labels,
            "text_length": [len(corpus.texts[i]) for i in split.test],
            **{f"p_{name}": test_probabilities[:, index] for index, name in enumerate(CLASSES)},
        }
    )
    path = save_model(
        model_root, card, head, extra_files={TEST_PREDICTIONS_FILE: predictions.to_parquet(index=False)}
    )
    progress(
        f"{MODEL_NAME} {card.version}: test weighted F1 {test_metrics['weighted_f1']:.4f}, "
        f"macro F1 {test_metrics['macro_f1']:.4f}, hate F1 {test_metrics['hate_f1']:.3f} "
        f"(best epoch {best_epoch}); saved to {path}"
    )
    return SafetyTraining(card=card, path=path, test_metrics=test_metrics, confusion=confusion)


def unsafe_score(probabilities: np.ndarray) -> np.ndarray:
    """The risk a decision is taken on: the probability of hate or offensive language."""
    return 1.0 - probabilities[:, NEITHER]


def _probabilities(head: nn.Module, embeddings: torch.Tensor) -> np.ndarray:
    head.eval()
    with torch.no_grad():
        return torch.softmax(head(embeddings), dim=1).numpy()
