"""Model evaluation: metrics, calibration, slices and policy outcomes, for every model kind.

Everything is computed from a version's stored held-out predictions (written at training time:
the safety model's fixed test split, the engagement model's held-out 20% of items), so an
evaluation can be repeated at any time without the training data or the encoder, and two versions
evaluated on the same split are compared like for like. What differs between kinds is only how the
held-out rows are sliced (:data:`CARD_SPECS`); metrics, calibration, the confusion matrix and the
comparison with the promoted version are shared. Turning an evaluation into a card (JSON, HTML,
plots) is :mod:`content_signals.models.cards`; training reads the same metrics from here
(:func:`flat_metrics`), so a card and its training run report the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from content_signals.errors import SignalsError
from content_signals.models.decisions import DecisionThresholds, policy_outcomes
from content_signals.models.networks import FEATURE_MLP, TEXT_CLASSIFIER, ModelCard

# A band is (low, high, name): low <= value < high.
Band = tuple[float, float, str]
UNKNOWN = "unknown"
# Text length bands (characters) for slice metrics: short posts behave differently from long ones.
LENGTH_BANDS: tuple[Band, ...] = (
    (0, 50, "< 50 chars"),
    (50, 100, "50-99 chars"),
    (100, 10**9, ">= 100 chars"),
)
# Creator catalogue size bands (items): one-off uploaders, small, established and large catalogues
# get very different exposure, so a model can be good on average and poor for small creators.
CREATOR_SIZE_BANDS: tuple[Band, ...] = ((1, 2, "1"), (2, 10, "2-9"), (10, 50, "10-49"), (50, 10**12, "50+"))
CALIBRATION_BINS = 10
# The figures a card leads with and compares with the promoted version's.
HEADLINE_METRICS = ("weighted_f1", "macro_f1", "accuracy", "macro_roc_auc", "expected_calibration_error")


def band_labels(values: pd.Series | np.ndarray, bands: tuple[Band, ...]) -> np.ndarray:
    """Each value's band name; ``UNKNOWN`` for a missing value or one outside every band."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    labels = np.full(len(numbers), UNKNOWN, dtype=object)
    for low, high, name in bands:
        labels[(numbers >= low) & (numbers < high)] = name
    return labels


def known_or_unknown(values: pd.Series) -> np.ndarray:
    """String slice values with nulls (and empty strings) named ``UNKNOWN``, so they stay counted."""
    text = values.astype(object).where(values.notna(), UNKNOWN).astype(str)
    return text.where(text.str.strip() != "", UNKNOWN).to_numpy(dtype=object)


@dataclass(frozen=True)
class SliceDimension:
    """One way to cut the held-out rows: a stored prediction column, banded if ``bands`` is set."""

    title: str
    column: str
    bands: tuple[Band, ...] = ()
    # Slices listed in this order first (bands: their order); any others follow alphabetically.
    order: tuple[str, ...] = ()

    def values(self, predictions: pd.DataFrame) -> np.ndarray:
        column = predictions[self.column]
        return band_labels(column, self.bands) if self.bands else known_or_unknown(column)

    def ordered(self, present: set[str]) -> list[str]:
        preferred = [name for _, _, name in self.bands] + list(self.order)
        first = [name for name in preferred if name in present]
        return first + sorted(present - set(first), key=lambda name: (name == UNKNOWN, name))


@dataclass(frozen=True)
class CardSpec:
    """What differs between model kinds on a card: what one held-out row is, and its slices."""

    unit: str
    slices: tuple[SliceDimension, ...]


CARD_SPECS: dict[str, CardSpec] = {
    TEXT_CLASSIFIER: CardSpec("texts", (SliceDimension("text length", "text_length", bands=LENGTH_BANDS),)),
    FEATURE_MLP: CardSpec(
        "items",
        (
            SliceDimension("content type", "content_type"),
            SliceDimension("language", "language"),
            SliceDimension(
                "creator size band",
                "creator_size_band",
                order=(*(name for _, _, name in CREATOR_SIZE_BANDS), UNKNOWN),
            ),
        ),
    ),
}


def class_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, Any]:
    predicted = probabilities.argmax(axis=1)
    per_class: dict[str, dict[str, float]] = {}
    f1s, supports = [], []
    for index, name in enumerate(classes):
        truth, chosen = labels == index, predicted == index
        tp = float((truth & chosen).sum())
        precision = tp / chosen.sum() if chosen.any() else 0.0
        recall = tp / truth.sum() if truth.any() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        both_present = 0 < truth.sum() < len(truth)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": float(truth.sum()),
            "roc_auc": float(roc_auc_score(truth, probabilities[:, index])) if both_present else float("nan"),
            "pr_auc": (
                float(average_precision_score(truth, probabilities[:, index]))
                if both_present
                else float("nan")
            ),
        }
        f1s.append(f1)
        supports.append(truth.sum())
    weights = np.asarray(supports, dtype=float)
    aucs = np.asarray([c["roc_auc"] for c in per_class.values()])
    return {
        "weighted_f1": float(np.dot(f1s, weights) / weights.sum()) if weights.sum() else 0.0,
        "macro_f1": float(np.mean(f1s)),
        "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0,
        # NaN (without numpy's empty-slice warning) when no class has both outcomes present.
        "macro_roc_auc": float(aucs[~np.isnan(aucs)].mean()) if (~np.isnan(aucs)).any() else float("nan"),
        "per_class": per_class,
    }


def flat_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, float]:
    """:func:`class_metrics` as the flat floats a :class:`ModelCard` stores (and promotion gates
    read): overall F1s and accuracy, ``<class>_<precision|recall|f1|support>``, and the macro
    ROC-AUC only when every class occurs (otherwise it would average a different set of classes)."""
    computed = class_metrics(labels, probabilities, classes)
    metrics = {key: float(computed[key]) for key in ("weighted_f1", "macro_f1", "accuracy")}
    for name, values in computed["per_class"].items():
        for key in ("precision", "recall", "f1", "support"):
            metrics[f"{name}_{key}"] = float(values[key])
    if len(set(labels.tolist())) == len(classes):
        metrics["macro_roc_auc"] = float(computed["macro_roc_auc"])
    return metrics


def calibration(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Reliability of the top-class confidence: per-bin confidence vs accuracy, and the ECE."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    curve, ece = [], 0.0
    for b in range(CALIBRATION_BINS):
        members = bins == b
        if not members.any():
            continue
        mean_confidence, accuracy = float(confidence[members].mean()), float(correct[members].mean())
        ece += members.mean() * abs(mean_confidence - accuracy)
        curve.append({"bin": b, "confidence": mean_confidence, "accuracy": accuracy, "n": int(members.sum())})
    return {"expected_calibration_error": float(ece), "reliability": curve}


def slice_metrics(
    dimension: SliceDimension,
    predictions: pd.DataFrame,
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes: list[str],
) -> dict[str, dict[str, Any]]:
    """Per slice value: n, weighted and macro F1, and the macro ROC-AUC where every class occurs
    in the slice (null otherwise: an AUC over some of the classes is not comparable)."""
    values = dimension.values(predictions)
    slices: dict[str, dict[str, Any]] = {}
    for name in dimension.ordered(set(values.tolist())):
        members = values == name
        computed = class_metrics(labels[members], probabilities[members], classes)
        every_class = len(set(labels[members].tolist())) == len(classes)
        slices[name] = {
            "n": int(members.sum()),
            "weighted_f1": computed["weighted_f1"],
            "macro_f1": computed["macro_f1"],
            "roc_auc": computed["macro_roc_auc"] if every_class else None,
        }
    return slices


def evaluate_predictions(card: ModelCard, predictions: pd.DataFrame) -> dict[str, Any]:
    """The card's evaluation section from held-out predictions (``label`` and ``p_<class>`` columns
    plus the kind's slice columns)."""
    spec = card_spec(card)
    classes = card.classes
    needed = ["label", *(f"p_{c}" for c in classes), *(d.column for d in spec.slices)]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise SignalsError(
            f"{card.name} {card.version}: held-out predictions lack column(s) {', '.join(missing)}"
        )
    labels = predictions["label"].to_numpy()
    probabilities = predictions[[f"p_{c}" for c in classes]].to_numpy()
    report: dict[str, Any] = {"n": len(labels), **class_metrics(labels, probabilities, classes)}
    report |= calibration(labels, probabilities)
    report["confusion_matrix"] = confusion_matrix(
        labels, probabilities.argmax(axis=1), labels=list(range(len(classes)))
    ).tolist()
    report["slices"] = {
        dimension.title: slice_metrics(dimension, predictions, labels, probabilities, classes)
        for dimension in spec.slices
    }
    if card.review_threshold is not None and card.block_threshold is not None and "neither" in classes:
        unsafe = 1.0 - probabilities[:, classes.index("neither")]
        positives = labels != classes.index("neither")
        thresholds = DecisionThresholds(card.review_threshold, card.block_threshold)
        report["policy"] = {
            "review_threshold": card.review_threshold,
            "block_threshold": card.block_threshold,
            **policy_outcomes(unsafe, positives, thresholds),
            "tradeoff": _automation_tradeoff(unsafe, positives, card.block_threshold),
        }
    return report


def card_spec(card: ModelCard) -> CardSpec:
    """The kind's card layout; a card without classes predates model cards for its kind."""
    spec = CARD_SPECS.get(card.kind)
    if spec is None:
        raise SignalsError(f"{card.name} {card.version} is a {card.kind}: no model card layout for it")
    if not card.classes:
        raise SignalsError(
            f"{card.name} {card.version} names no classes (trained before model cards covered "
            f"{card.kind} models): train a new version"
        )
    return spec


def _automation_tradeoff(unsafe: np.ndarray, positives: np.ndarray, block: float) -> list[dict[str, float]]:
    """Automation against missed unsafe items as the review threshold moves (block fixed)."""
    points = []
    for review in np.linspace(0.0, min(block, 1.0), 21):
        outcome = policy_outcomes(unsafe, positives, DecisionThresholds(float(review), block))
        points.append(
            {
                "review_threshold": float(review),
                "automation_rate": outcome["automation_rate"],
                "missed_positive_rate": outcome["missed_positive_rate"],
            }
        )
    return points


def compare_headline(report: dict[str, Any], promoted_report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each headline metric of ``report`` beside the promoted version's and the difference."""
    return {
        key: {
            "this": report[key],
            "promoted": promoted_report[key],
            "delta": report[key] - promoted_report[key],
        }
        for key in HEADLINE_METRICS
    }
