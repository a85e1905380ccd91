"""The ``safety`` model: hate / offensive / neither, from a text's embedding and its n-grams.

Trained on a labelled corpus in the Davidson et al. (2017) format (``class``: 0 hate speech, 1
offensive language, 2 neither; text in ``tweet``). The split is fixed and stratified: the same
corpus and seed always give the same held-out test set, whose fingerprint is stored with the model
so two versions are only compared on the same test set.

The head is wide and deep (:class:`content_signals.models.networks.TextClassifierHead`): an MLP over the
frozen sentence embedding, and a linear model over word and character n-gram TF-IDF features
fitted on the training split (:mod:`content_signals.models.text_features`). Each part trains on the
training split with early stopping on validation weighted F1; their log-probabilities are averaged
and a per-class bias is chosen on validation. The test split is scored once, at the end.

The text is normalised (:func:`normalise_text`) before encoding, here and at serving time, so a
URL or an @mention contributes its role, not its characters.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix, f1_score
from sklearn.model_selection import train_test_split
from torch import nn

from content_signals.config import PlatformConfig
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models.decisions import choose_thresholds, policy_outcomes
from content_signals.models.evaluation import flat_metrics
from content_signals.models.networks import (
    TEST_PREDICTIONS_FILE,
    TEXT_CLASSIFIER,
    ModelCard,
    TextClassifierHead,
    save_model,
)
from content_signals.models.registry import next_version
from content_signals.models.text_encoder import TextEncoder, shared_encoder
from content_signals.models.text_features import NgramBatch, NgramFeatures, batch_of
from content_signals.text import normalise_text

MODEL_NAME = "safety"
CLASSES = ("hate", "offensive", "neither")
NEITHER = CLASSES.index("neither")
TEXT_COLUMN, LABEL_COLUMN = "tweet", "class"
HIDDEN_UNITS = [256]
BATCH_SIZE = 128
# L2 penalty on the wide part's weights (sum of squares): keeps rare n-grams from memorising labels.
WIDE_L2 = 1e-5
# Class-bias search on validation: from, to, step.
BIAS_GRID = (-0.5, 2.5, 0.1)
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
    card's own figures (:func:`content_signals.models.evaluation.flat_metrics`)."""
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

    texts = [normalise_text(t) for t in corpus.texts + extra.texts]
    ngrams = NgramFeatures.fit([texts[i] for i in training_rows])
    features = ngrams.matrix(texts)
    progress(f"n-gram features: {ngrams.size:,} (word 1-2 and character 2-5 grams, training split only)")

    torch.manual_seed(seed)
    head = TextClassifierHead(encoder.dimension, HIDDEN_UNITS, len(CLASSES), ngrams.size)
    head.ngrams = ngrams
    x = torch.from_numpy(embeddings)
    parts = TrainingParts(all_labels, training_rows, split.validation, epochs, seed, progress)
    wide_epoch = parts.fit(
        "wide (n-grams)",
        head,
        lambda rows: head.wide_logits(batch_of(features[rows])),
        torch.optim.Adam([head.wide.weight, head.wide_bias], lr=1e-2),
        patience=6,
        penalty=lambda: WIDE_L2 * head.wide.weight.pow(2).sum(),
    )
    deep_epoch = parts.fit(
        "deep (embedding)",
        head,
        lambda rows: head.deep_logits(x[rows]),
        torch.optim.Adam(head.deep.parameters(), lr=1e-3, weight_decay=1e-4),
        patience=10,
    )
    head.eval()

    def probabilities(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(head(x[rows], batch_of(features[rows])), dim=1).numpy()  # type: ignore[no-any-return]

    bias = choose_class_bias(
        head, x[split.validation], batch_of(features[split.validation]), corpus.labels[split.validation]
    )
    head.class_bias.copy_(torch.from_numpy(bias))  # type: ignore[operator]
    best_f1 = classification_metrics(corpus.labels[split.validation], probabilities(split.validation))[
        "weighted_f1"
    ]
    progress(
        f"class bias {', '.join(f'{c} {b:+.1f}' for c, b in zip(CLASSES, bias, strict=True))} "
        "(chosen on validation): "
        f"validation weighted F1 {best_f1:.4f}"
    )

    test_labels = corpus.labels[split.test]
    test_probabilities = probabilities(split.test)
    test_metrics = classification_metrics(test_labels, test_probabilities)
    confusion = confusion_matrix(
        test_labels, test_probabilities.argmax(axis=1), labels=list(range(len(CLASSES)))
    ).tolist()
    metrics = {f"test_{k}": v for k, v in test_metrics.items()}
    metrics |= {
        "validation_weighted_f1": best_f1,
        "best_epoch_wide": float(wide_epoch),
        "best_epoch_deep": float(deep_epoch),
        "training_rows": float(len(training_rows)),
        "review_label_rows": float(len(extra.texts)),
    }

    # The decision policy: thresholds on the unsafe probability, chosen on validation data.
    targets = config.models.decision_targets
    thresholds = choose_thresholds(
        unsafe_score(probabilities(split.validation)),
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
        ngram_features=ngrams.size,
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
        model_root,
        card,
        head,
        extra_files={TEST_PREDICTIONS_FILE: predictions.to_parquet(index=False), **ngrams.files()},
    )
    progress(
        f"{MODEL_NAME} {card.version}: test weighted F1 {test_metrics['weighted_f1']:.4f}, "
        f"macro F1 {test_metrics['macro_f1']:.4f}, hate F1 {test_metrics['hate_f1']:.3f} "
        f"(best epochs: wide {wide_epoch}, deep {deep_epoch}); saved to {path}"
    )
    return SafetyTraining(card=card, path=path, test_metrics=test_metrics, confusion=confusion)


def unsafe_score(probabilities: np.ndarray) -> np.ndarray:
    """The risk a decision is taken on: the probability of hate or offensive language."""
    return 1.0 - probabilities[:, NEITHER]


@dataclass(frozen=True)
class TrainingParts:
    """How each part of the head is trained: mini-batches of the training rows, the epoch with the
    best validation weighted F1 kept (early stopping after ``patience`` epochs without one)."""

    labels: np.ndarray
    training_rows: np.ndarray
    validation_rows: np.ndarray
    max_epochs: int
    seed: int
    progress: Callable[[str], None]

    def fit(
        self,
        name: str,
        module: nn.Module,
        logits: Callable[[np.ndarray], torch.Tensor],
        optimiser: torch.optim.Optimizer,
        patience: int,
        penalty: Callable[[], torch.Tensor] | None = None,
    ) -> int:
        parameters = [p for group in optimiser.param_groups for p in group["params"]]
        y = torch.from_numpy(self.labels)
        generator = np.random.default_rng(self.seed)
        best_f1, best_epoch, best_state = -1.0, 0, [p.detach().clone() for p in parameters]
        for epoch in range(1, self.max_epochs + 1):
            module.train()
            order = generator.permutation(self.training_rows)
            for first in range(0, len(order), BATCH_SIZE):
                rows = order[first : first + BATCH_SIZE]
                optimiser.zero_grad()
                loss = nn.functional.cross_entropy(logits(rows), y[rows])
                if penalty is not None:
                    loss = loss + penalty()
                loss.backward()
                optimiser.step()
            module.eval()
            with torch.no_grad():
                predicted = logits(self.validation_rows).argmax(dim=1).numpy()
            f1 = float(f1_score(self.labels[self.validation_rows], predicted, average="weighted"))
            if f1 > best_f1:
                best_f1, best_epoch = f1, epoch
                best_state = [p.detach().clone() for p in parameters]
            elif epoch - best_epoch >= patience:
                break
        with torch.no_grad():
            for parameter, value in zip(parameters, best_state, strict=True):
                parameter.copy_(value)
        self.progress(f"{name}: best validation weighted F1 {best_f1:.4f} at epoch {best_epoch}")
        return best_epoch


def choose_class_bias(
    head: TextClassifierHead, embeddings: torch.Tensor, ngrams: NgramBatch, labels: np.ndarray
) -> np.ndarray:
    """Per-class logit offsets (the ``offensive`` class fixed at 0) that maximise validation
    weighted F1: the two parts each lean towards the majority class, and offsets chosen on held-out
    data move the decision boundary back, as a threshold would for one class."""
    with torch.no_grad():
        head.class_bias.zero_()  # type: ignore[operator]
        base = head(embeddings, ngrams).numpy()
    grid = np.round(np.arange(BIAS_GRID[0], BIAS_GRID[1] + 1e-9, BIAS_GRID[2]), 2)
    best, best_f1 = np.zeros(len(CLASSES), np.float32), -1.0
    offensive = CLASSES.index("offensive")
    for hate, neither in itertools.product(grid, grid):
        bias = np.zeros(len(CLASSES), np.float32)
        bias[CLASSES.index("hate")], bias[NEITHER] = hate, neither
        f1 = float(f1_score(labels, (base + bias).argmax(axis=1), average="weighted"))
        if f1 > best_f1 + 1e-9:
            best, best_f1 = bias, f1
    assert best[offensive] == 0.0
    return best
