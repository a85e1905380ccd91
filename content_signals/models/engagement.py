"""The ``engagement`` model: will an item be played more than the median item next week?

This module is the model kind itself, trained on an in-memory training frame: one row per item with
its features as of the end of the training date (the ``ranking_v1`` service, point in time), its
plays in the following :data:`LABEL_DAYS` days and the slice columns of its card. Building that
frame from the feature store and the listening events is the job layer's
(:mod:`content_signals.jobs.engagement_training`), so the model lifecycle reads no engine and no
store. The label counts only events strictly after the feature time, so no feature can contain
information about it.

A fixed 20% of items (by a hash of the id) is held out: the network never trains on them and no
choice is made on them, so they are this model's test split. Their predictions are stored with the
version, with the slices the model card reports (content type, language, creator size band), each
as known at the feature time, so ``signals evaluate engagement`` can rebuild the card at any time.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from content_signals.definitions import SIGNAL_TABLES
from content_signals.errors import SignalsError
from content_signals.models.evaluation import (
    CREATOR_SIZE_BANDS,
    band_labels,
    flat_metrics,
    known_or_unknown,
)
from content_signals.models.networks import (
    TEST_PREDICTIONS_FILE,
    EngagementNet,
    ModelCard,
    save_model,
)
from content_signals.models.registry import next_version
from content_signals.partitions import partition_timestamp

MODEL_NAME = "engagement"
FEATURE_SERVICE = "ranking_v1"
LABEL_DAYS = 7
HIDDEN_UNITS = [32, 16]
TARGET = "1 when the item's plays in the 7 days after the feature timestamp exceed the median item's, else 0"
# The target's two values as card classes (index = label), so model cards and promotion gates
# treat this binary model like any classifier. Serving reads only the positive-class probability.
CLASSES = ("not_above_median", "above_median")
HELD_OUT_SPLIT = "items with crc32(content_id) % 5 == 0 (20%): never trained on, nothing chosen on them"
# What a training frame holds besides the features: the item, its plays in the label's window, and
# what the card slices on (the catalogue's content type, ``content_metadata.language`` and the
# creator's ``catalogue_size``, all as known at the feature time).
PLAYS_COLUMN = "future_plays"
FRAME_COLUMNS = ("content_id", PLAYS_COLUMN, "content_type", "language", "catalogue_size")


@dataclass(frozen=True)
class TrainingResult:
    card: ModelCard
    path: str
    rows: int


def numeric_features(feature_service_views: list[tuple[str, list[str]]]) -> list[str]:
    """The service's int, double and bool features in a stable order (strings and vectors are not
    inputs of the MLP)."""
    names = []
    for view, features in feature_service_views:
        table = SIGNAL_TABLES[view]
        names += [f for f in features if table.signal(f).dtype in ("int64", "double", "bool")]
    return names


def label_days(day: date) -> list[date]:
    """The days whose listening events label features as of the end of ``day``."""
    return [day + timedelta(days=i) for i in range(1, LABEL_DAYS + 1)]


def slice_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model card's slice values per training-set row, all as known at the feature time: the
    content type, the ``content_metadata.language`` signal and the creator's ``catalogue_size``
    (joined point in time through ``item_creator_id``), banded. Missing values are ``unknown``."""
    return {
        "content_type": known_or_unknown(frame["content_type"]),
        "language": known_or_unknown(frame["language"]),
        "creator_size_band": band_labels(frame["catalogue_size"], CREATOR_SIZE_BANDS),
    }


def held_out_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """The card's metrics on the held-out items: ``test_*`` as the safety model reports them (what
    the promotion gates read), and the older ``validation_*`` names that earlier versions carry (the
    same held-out items; the model was then called ``quality``), so a new version still compares
    with them."""
    scores = probabilities[:, CLASSES.index("above_median")]
    metrics = {f"test_{k}": v for k, v in flat_metrics(labels, probabilities, list(CLASSES)).items()}
    metrics["validation_roc_auc"] = roc_auc(labels, scores)
    metrics["validation_accuracy"] = float((probabilities.argmax(axis=1) == labels).mean())
    return metrics


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _in_validation(content_id: str) -> bool:
    """A stable 80/20 split by id, so retraining on the same data gives the same split."""
    return zlib.crc32(content_id.encode()) % 5 == 0


@dataclass(frozen=True)
class Standardisation:
    """Per-feature mean and spread of the training frame; serving applies the same (from the card)."""

    means: np.ndarray
    stds: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardisation:
        stds = np.nanstd(values, axis=0)
        return cls(means=np.nanmean(values, axis=0), stds=np.where(stds > 0, stds, 1.0))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Standardised values; a missing value becomes 0, the mean."""
        return np.nan_to_num((values - self.means) / self.stds, nan=0.0).astype(np.float32)


def fit_network(
    x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, progress: Callable[[str], None]
) -> EngagementNet:
    """Full-batch Adam on the binary cross-entropy; seeded, so the same data gives the same weights."""
    torch.manual_seed(seed)
    network = EngagementNet(x.shape[1], HIDDEN_UNITS)
    optimiser = torch.optim.Adam(network.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for epoch in range(1, epochs + 1):
        optimiser.zero_grad()
        loss = loss_fn(network(x), y)
        loss.backward()
        optimiser.step()
        if epoch % 100 == 0 or epoch == epochs:
            progress(f"epoch {epoch}/{epochs}: training loss {loss.item():.4f}")
    network.eval()
    return network


def train_on_frame(
    frame: pd.DataFrame,
    features: list[str],
    day: date,
    model_root: Path,
    progress: Callable[[str], None] = lambda _line: None,
    epochs: int = 300,
    seed: int = 0,
) -> TrainingResult:
    """Train, evaluate on the held-out items and save a new version under ``model_root``.

    ``frame`` has one row per item: :data:`FRAME_COLUMNS` and ``features``, the features as of the
    end of ``day`` and the plays counted over :func:`label_days`.
    """
    missing = [c for c in (*FRAME_COLUMNS, *features) if c not in frame.columns]
    if missing:
        raise SignalsError(f"the {MODEL_NAME} training frame lacks column(s) {', '.join(missing)}")
    target = (frame[PLAYS_COLUMN] > frame[PLAYS_COLUMN].median()).astype(np.float32).to_numpy()
    values = frame[features].astype("float64").to_numpy()
    scaling = Standardisation.fit(values)
    standardised = scaling.apply(values)

    validation = frame["content_id"].map(_in_validation).to_numpy()
    network = fit_network(
        torch.from_numpy(standardised[~validation]),
        torch.from_numpy(target[~validation]),
        epochs,
        seed,
        progress,
    )
    with torch.no_grad():
        scores = torch.sigmoid(network(torch.from_numpy(standardised[validation]))).numpy()
    y_val = target[validation].astype(np.int64)
    # In float64: 1 - p in float32 would round distinct scores together, so the two classes'
    # ROC-AUCs (and the card's macro ROC-AUC) would no longer equal the positive class's.
    positive = scores.astype(np.float64)
    probabilities = np.column_stack([1.0 - positive, positive])
    metrics = {
        **held_out_metrics(y_val, probabilities),
        "validation_rows": float(validation.sum()),
        "training_rows": float((~validation).sum()),
        "positive_rate": float(target.mean()),
    }
    window = label_days(day)
    card = ModelCard(
        name=MODEL_NAME,
        version=next_version(model_root),
        feature_service=FEATURE_SERVICE,
        features=features,
        feature_means=[float(v) for v in scaling.means],
        feature_stds=[float(v) for v in scaling.stds],
        hidden_units=HIDDEN_UNITS,
        target=TARGET,
        training_partition=day.isoformat(),
        trained_at=datetime.now(UTC).isoformat(),
        metrics=metrics,
        classes=list(CLASSES),
        evaluation={
            "held_out_split": HELD_OUT_SPLIT,
            "feature_time": partition_timestamp(day).isoformat(),
            # The label's events: the first and last day counted (inclusive).
            "label_window": [window[0].isoformat(), window[-1].isoformat()],
        },
    )
    held_out = frame.loc[validation]
    predictions = pd.DataFrame(
        {
            "content_id": held_out["content_id"].to_numpy(),
            "label": y_val,
            **{f"p_{name}": probabilities[:, index] for index, name in enumerate(CLASSES)},
            **slice_columns(held_out),
        }
    )
    path = save_model(
        model_root, card, network, extra_files={TEST_PREDICTIONS_FILE: predictions.to_parquet(index=False)}
    )
    progress(
        f"{MODEL_NAME} {card.version}: held-out ROC-AUC {metrics['validation_roc_auc']:.3f}, "
        f"accuracy {metrics['validation_accuracy']:.3f}, weighted F1 {metrics['test_weighted_f1']:.3f}; "
        f"saved to {path}"
    )
    return TrainingResult(card=card, path=str(path), rows=len(frame))
