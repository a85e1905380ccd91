"""Decision thresholds on a risk score: ALLOW below review, REVIEW between, BLOCK at or above block.

Thresholds are chosen on validation data to meet targets, then measured on the test split:

- **block**: the lowest threshold at which the blocked items are at least ``block_precision``
  positives. Lowest, because every item above it is decided without a reviewer.
- **review**: the highest threshold at which ``review_recall`` of the positives *below block* still
  reach a reviewer (or get blocked): the rest are allowed automatically.

Nothing here knows about models: it takes scores and labels, so it is tested on numbers.
:func:`decide` is the one ALLOW / REVIEW / BLOCK rule on a single risk score, and
:func:`decide_by_category` the one rule on per-category probabilities under a version's policy
(:mod:`content_signals.models.policy`): the daily ``content_safety`` job, ``Score``, the model card
and the review export all call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from content_signals.definitions import Decision
from content_signals.models.policy import SafetyPolicy

# The block threshold when no threshold reaches the precision target: above every probability
# (1.0 itself can be a score), so nothing is blocked automatically.
NEVER = 1.000001


@dataclass(frozen=True)
class DecisionThresholds:
    review: float
    block: float


def choose_thresholds(
    scores: np.ndarray,
    positives: np.ndarray,
    block_precision: float,
    review_recall: float,
    weights: np.ndarray | None = None,
) -> DecisionThresholds:
    """``weights`` count each item that many times when measuring block precision: per-class weights
    from :func:`content_signals.models.prevalence.deployment_weights` choose the block threshold for
    the precision it will have at the deployment prevalence rather than on the validation split.
    (Review recall is a share of positives only, so per-class weights do not move it.)"""
    if len(scores) != len(positives) or len(scores) == 0:
        raise ValueError("scores and labels must be non-empty and of the same length")
    if not (0 < block_precision <= 1 and 0 < review_recall <= 1):
        raise ValueError("targets must be in (0, 1]")
    if weights is not None and (len(weights) != len(scores) or np.any(np.asarray(weights) < 0)):
        raise ValueError("weights must be one non-negative number per score")
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_positive = scores[order], positives[order].astype(bool)
    ranked_weight = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    # Precision of "block everything scoring >= ranked_scores[i]"; ties share the last index.
    counted = np.cumsum(ranked_weight)
    precision = np.divide(
        np.cumsum(ranked_weight * ranked_positive), counted, out=np.zeros(len(scores)), where=counted > 0
    )
    last_of_tie = np.r_[ranked_scores[1:] != ranked_scores[:-1], True]
    meets = np.flatnonzero(last_of_tie & (precision >= block_precision))
    block = float(ranked_scores[meets[-1]]) if len(meets) else NEVER

    remaining = np.sort(scores[positives.astype(bool) & (scores < block)])
    if len(remaining) == 0:
        return DecisionThresholds(review=block, block=block)
    # The highest threshold keeping review_recall of the remaining positives at or above it.
    keep_from = int(np.floor((1 - review_recall) * len(remaining) + 1e-9))
    review = float(remaining[min(keep_from, len(remaining) - 1)])
    return DecisionThresholds(review=min(review, block), block=block)


@dataclass(frozen=True)
class Decided:
    """Per score: the decision (a :class:`Decision` value) and the threshold that made it (block's
    for BLOCK, review's otherwise; 0 without thresholds)."""

    decisions: np.ndarray
    thresholds: np.ndarray

    def labels(self) -> list[str]:
        """The decisions as the ``safety_decision`` signal stores them (``allow`` ...)."""
        return [Decision(int(d)).label for d in self.decisions]


def decide(scores: np.ndarray, thresholds: DecisionThresholds | None) -> Decided:
    """BLOCK at or above ``thresholds.block``, REVIEW at or above ``thresholds.review``, else ALLOW;
    UNSPECIFIED (threshold 0) for every score when a model has no thresholds (it only scores), and
    for a missing score (NaN: nothing was known about the item), which no threshold may turn into
    an ALLOW."""
    # Not cast: a float32 score is compared in float32 (the threshold is a weak Python float), so a
    # network's score equal to a threshold written from it reaches that threshold.
    scores = np.asarray(scores)
    if thresholds is None:
        return Decided(np.full(len(scores), Decision.UNSPECIFIED, dtype=np.int8), np.zeros(len(scores)))
    chosen = np.where(
        scores >= thresholds.block,
        Decision.BLOCK,
        np.where(scores >= thresholds.review, Decision.REVIEW, Decision.ALLOW),
    ).astype(np.int8)
    made_at = np.where(chosen == Decision.BLOCK, thresholds.block, thresholds.review).astype(np.float64)
    unscored = np.isnan(scores)
    chosen[unscored], made_at[unscored] = Decision.UNSPECIFIED, 0.0
    return Decided(chosen, made_at)


def policy_outcomes(
    scores: np.ndarray, positives: np.ndarray, thresholds: DecisionThresholds
) -> dict[str, float]:
    """What the thresholds do on labelled data: automation against errors."""
    positives = positives.astype(bool)
    decided = decide(scores, thresholds).decisions
    blocked = decided == Decision.BLOCK
    reviewed = decided == Decision.REVIEW
    allowed = ~blocked & ~reviewed
    n, n_positive = len(scores), int(positives.sum())
    below_block = positives & ~blocked
    return {
        "automation_rate": float((allowed | blocked).mean()) if n else 0.0,
        "review_rate": float(reviewed.mean()) if n else 0.0,
        "block_rate": float(blocked.mean()) if n else 0.0,
        "block_precision": float(positives[blocked].mean()) if blocked.any() else 1.0,
        "review_recall_of_remaining": (float(reviewed[below_block].mean()) if below_block.any() else 1.0),
        # Unsafe items let through without review, as a share of all unsafe items.
        "missed_positive_rate": float((allowed & positives).sum() / n_positive) if n_positive else 0.0,
        # Safe items blocked without review, as a share of all safe items.
        "wrongly_blocked_rate": (
            float((blocked & ~positives).sum() / (n - n_positive)) if n > n_positive else 0.0
        ),
    }


# The "category" a single-score policy decides on: the unsafe probability, 1 - P(none).
UNSAFE = "unsafe"
# Older safety versions name the benign class "neither"; policies call it "none".
_CATEGORY_OF_CLASS = {"neither": "none"}


def categories_of(classes: Sequence[str]) -> list[str]:
    """A text classifier's classes as policy categories (``neither`` is ``none``)."""
    return [_CATEGORY_OF_CLASS.get(c, c) for c in classes]


@dataclass(frozen=True)
class CategoryDecided:
    """Per item: the decision, the category and threshold that made it (empty and 0 for ALLOW and
    for an unscored item), and whether the item should carry the explicit label."""

    decisions: np.ndarray
    categories: list[str]
    thresholds: np.ndarray
    explicit_suggested: np.ndarray

    def labels(self) -> list[str]:
        return [Decision(int(d)).label for d in self.decisions]

    def reasons(self) -> list[str]:
        """One line per item, what a reviewer or a log reads: ``block: hate >= 0.910``;
        ``allow`` (or ``allow: unsafe < 0.400`` under a single-score policy)."""
        lines = []
        for d, c, t in zip(self.decisions, self.categories, self.thresholds, strict=True):
            label = Decision(int(d)).label
            if c:
                lines.append(f"{label}: {c} >= {t:.3f}")
            elif d == Decision.ALLOW and t > 0:
                lines.append(f"{label}: {UNSAFE} < {t:.3f}")
            else:
                lines.append(label)
        return lines


def decide_by_category(
    probabilities: np.ndarray,
    categories: Sequence[str],
    policy: SafetyPolicy,
    explicit: Sequence[bool | None] | None = None,
) -> CategoryDecided:
    """ALLOW / REVIEW / BLOCK from per-category probabilities (items x ``categories``) and a policy
    with one rule per category: the most severe action any rule takes wins, and among rules taking
    it the first in the policy's order names the reason. A rule with ``review_only_if_not_explicit``
    sends to REVIEW only items the catalogue does not flag explicit (``explicit`` per item; None:
    not known, which counts as not flagged). A row with a missing probability (NaN: the item was
    not scored) gets UNSPECIFIED, no reason and no explicit suggestion."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = len(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(categories):
        raise ValueError(f"probabilities must be items x {len(categories)} categories")
    # Class names as categories on both sides: a policy may say "neither" where the model says "none".
    position = {name: i for i, name in enumerate(categories_of(categories))}
    missing = [c for c in categories_of(policy.categories) if c not in position]
    if missing:
        raise ValueError(f"the policy's categories {missing} are not among the model's {list(categories)}")

    def column_of(category: str) -> np.ndarray:
        return probabilities[:, position[categories_of([category])[0]]]

    flagged = np.zeros(n, dtype=bool)
    if explicit is not None:
        flagged = np.array([value is True for value in explicit], dtype=bool)
    decisions = np.full(n, Decision.ALLOW, dtype=np.int8)
    reason = np.full(n, "", dtype=object)
    made_at = np.zeros(n, dtype=np.float64)
    explicit_suggested = np.zeros(n, dtype=bool)
    for action, threshold_of in ((Decision.BLOCK, "block_at"), (Decision.REVIEW, "review_at")):
        for rule in policy.rules:
            threshold = getattr(rule, threshold_of)
            if threshold is None:
                continue
            fires = column_of(rule.category) >= threshold
            if action is Decision.REVIEW and rule.review_only_if_not_explicit:
                fires &= ~flagged
            undecided = fires & (decisions < action)
            decisions[undecided], reason[undecided], made_at[undecided] = action, rule.category, threshold
    suggesting = policy.explicit_rule
    if suggesting is not None and suggesting.explicit_at is not None:
        explicit_suggested = column_of(suggesting.category) >= suggesting.explicit_at
    unscored = np.isnan(probabilities).any(axis=1)
    decisions[unscored], reason[unscored], made_at[unscored] = Decision.UNSPECIFIED, "", 0.0
    explicit_suggested[unscored] = False
    return CategoryDecided(decisions, [str(r) for r in reason], made_at, explicit_suggested)


def decide_version(
    probabilities: np.ndarray,
    classes: Sequence[str],
    policy: SafetyPolicy | None,
    thresholds: DecisionThresholds | None,
    explicit: Sequence[bool | None] | None = None,
) -> CategoryDecided:
    """What a safety model version decides on class probabilities (items x ``classes``): by its
    per-category ``policy`` when it stores one, else by its single-score ``thresholds`` on the
    unsafe probability (category ``unsafe``; ALLOW keeps the review threshold it stayed under, as
    :func:`decide` gives it); UNSPECIFIED for both missing. The daily job, Score and the review
    export all decide through here."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    categories = categories_of(classes)
    if policy is not None:
        return decide_by_category(probabilities, categories, policy, explicit)
    unsafe = 1.0 - probabilities[:, categories.index("none")]
    decided = decide(unsafe, thresholds)
    acted = (decided.decisions == Decision.BLOCK) | (decided.decisions == Decision.REVIEW)
    return CategoryDecided(
        decisions=decided.decisions,
        categories=[UNSAFE if a else "" for a in acted],
        thresholds=decided.thresholds,
        explicit_suggested=np.zeros(len(unsafe), dtype=bool),
    )
