"""How common each class is where a model is deployed, and what the model's probabilities and
thresholds become there.

A classifier's posteriors carry the class priors of its training data: the Davidson tweets are 83%
offensive or hateful, a music catalogue perhaps a few percent explicit and far under 1% hateful.
Two things follow, and this module does both on numbers only (no model, no I/O):

- **Prevalence estimation** without labels (Saerens, Latinne & Decaestecker 2002, "Adjusting the
  outputs of a classifier to new a priori probabilities: a simple procedure"): alternate between
  re-weighting every posterior to the current prior estimate and re-estimating the prior as the mean
  adjusted posterior, until the prior stops moving. It assumes the class-conditional text
  distributions are the same in both places (label shift) and calibrated posteriors.
- **Thresholds at the deployment prevalence**: precision measured on a held-out split where 83% of
  items are positive says nothing about precision where 0.1% are. Re-weighting each held-out item by
  ``deployment prior / held-out prior`` of its class gives the rates the same threshold would have
  at deployment; :func:`content_signals.models.decisions.choose_thresholds` takes those weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Priors are kept away from 0 so that a class the EM drives towards zero can still come back, and
# log/ratio arithmetic stays finite.
MIN_PRIOR = 1e-6


@dataclass(frozen=True)
class PrevalenceEstimate:
    """The estimated deployment priors, and the posteriors adjusted to them."""

    priors: np.ndarray
    posteriors: np.ndarray
    iterations: int
    converged: bool


def _check_priors(priors: np.ndarray, classes: int, name: str) -> np.ndarray:
    priors = np.asarray(priors, dtype=np.float64)
    if priors.shape != (classes,) or np.any(priors < 0) or not np.isclose(priors.sum(), 1.0):
        raise ValueError(f"{name} must be {classes} non-negative numbers summing to 1, got {priors}")
    return np.clip(priors, MIN_PRIOR, None) / np.clip(priors, MIN_PRIOR, None).sum()


def adjust_posteriors(
    posteriors: np.ndarray, source_priors: np.ndarray, target_priors: np.ndarray
) -> np.ndarray:
    """Bayes' rule with other priors: ``p'(y|x) ∝ p(y|x) · target(y) / source(y)``, rows summing to 1."""
    posteriors = np.asarray(posteriors, dtype=np.float64)
    classes = posteriors.shape[1]
    ratio = _check_priors(target_priors, classes, "target priors") / _check_priors(
        source_priors, classes, "source priors"
    )
    adjusted = posteriors * ratio[None, :]
    totals = adjusted.sum(axis=1, keepdims=True)
    return np.divide(adjusted, totals, out=np.full_like(adjusted, 1.0 / classes), where=totals > 0)


def estimate_prevalence(
    posteriors: np.ndarray,
    training_priors: np.ndarray,
    *,
    max_iterations: int = 1000,
    tolerance: float = 1e-8,
) -> PrevalenceEstimate:
    """The class priors of the unlabelled items ``posteriors`` were computed for (n x classes,
    posteriors of a model trained with ``training_priors``), by the EM procedure of Saerens et al."""
    posteriors = np.asarray(posteriors, dtype=np.float64)
    if posteriors.ndim != 2 or len(posteriors) == 0:
        raise ValueError("posteriors must be a non-empty (items x classes) matrix")
    source = _check_priors(training_priors, posteriors.shape[1], "training priors")
    priors = source.copy()
    adjusted = posteriors
    for iteration in range(1, max_iterations + 1):
        adjusted = adjust_posteriors(posteriors, source, priors)
        updated = np.clip(adjusted.mean(axis=0), MIN_PRIOR, None)
        updated /= updated.sum()
        if np.max(np.abs(updated - priors)) < tolerance:
            return PrevalenceEstimate(
                updated, adjust_posteriors(posteriors, source, updated), iteration, True
            )
        priors = updated
    return PrevalenceEstimate(priors, adjusted, max_iterations, False)


def deployment_weights(labels: np.ndarray, target_priors: np.ndarray, classes: int) -> np.ndarray:
    """Per held-out item, ``target(y) / held-out share(y)`` for its class ``y``: weighted counts of
    the held-out split then look as they would at the target prevalence. A class absent from the
    split gets no weight (there is nothing to re-weight)."""
    labels = np.asarray(labels, dtype=np.int64)
    target = _check_priors(target_priors, classes, "target priors")
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    shares = counts / max(1, len(labels))
    per_class = np.divide(target, shares, out=np.zeros(classes), where=shares > 0)
    return per_class[labels]


def expected_precision_recall(
    scores: np.ndarray, positives: np.ndarray, threshold: float, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Precision and recall of "score at or above ``threshold``", with each item counted ``weight``
    times (1 each by default): the figures a threshold is expected to reach where those weights
    describe the class mix. Precision is 1.0 when nothing reaches the threshold."""
    scores = np.asarray(scores)
    positives = np.asarray(positives, dtype=bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    flagged = scores >= threshold
    flagged_weight = weights[flagged].sum()
    positive_weight = weights[positives].sum()
    hits = weights[flagged & positives].sum()
    precision = float(hits / flagged_weight) if flagged_weight > 0 else 1.0
    recall = float(hits / positive_weight) if positive_weight > 0 else 1.0
    return precision, recall
