"""Decision thresholds chosen to meet targets, checked on numbers whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content_signals.definitions import Decision
from content_signals.models.decisions import (
    NEVER,
    DecisionThresholds,
    choose_thresholds,
    decide,
    policy_outcomes,
)


def test_block_is_the_lowest_threshold_meeting_the_precision_target() -> None:
    # Ranked by score: 4 positives, then a negative, then 5 more positives mixed with negatives.
    scores = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    positives = np.array([1, 1, 1, 1, 0, 1, 1, 0, 1, 0])
    thresholds = choose_thresholds(scores, positives, block_precision=0.8, review_recall=1.0)
    # Top 7 hold 6 positives (0.857 >= 0.8); top 9 hold 7 (0.78): block at 0.8.
    assert thresholds.block == 0.8
    # The only positive below block scores 0.6: review must start there to catch all of them.
    assert thresholds.review == 0.6


def test_review_keeps_the_target_share_of_remaining_positives() -> None:
    scores = np.linspace(0.0, 0.89, 90)
    positives = np.ones(90, dtype=bool)
    positives[:45] = False
    thresholds = choose_thresholds(scores, positives, block_precision=1.0, review_recall=0.9)
    outcomes = policy_outcomes(scores, positives, thresholds)
    assert outcomes["block_precision"] == 1.0
    assert outcomes["review_recall_of_remaining"] >= 0.9


def test_without_a_precise_enough_block_nothing_is_blocked() -> None:
    scores = np.array([0.9, 0.8, 0.7])
    positives = np.array([0, 1, 0])
    thresholds = choose_thresholds(scores, positives, block_precision=0.95, review_recall=0.9)
    assert thresholds.block == NEVER
    assert policy_outcomes(scores, positives, thresholds)["block_rate"] == 0.0


def test_ties_are_decided_together() -> None:
    scores = np.array([0.9, 0.9, 0.9, 0.1])
    positives = np.array([1, 1, 0, 0])
    # Blocking at 0.9 blocks all three ties: precision 2/3 < 0.95, so no block at 0.9.
    assert choose_thresholds(scores, positives, 0.95, 0.9).block == NEVER


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        choose_thresholds(np.array([0.5]), np.array([1, 0]), 0.9, 0.9)
    with pytest.raises(ValueError, match="targets"):
        choose_thresholds(np.array([0.5]), np.array([1]), 0.0, 0.9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60),
    st.floats(0.5, 1.0),
    st.floats(0.5, 1.0),
)
def test_chosen_thresholds_meet_their_targets_on_the_data_they_were_chosen_on(
    rows: list[tuple[float, bool]], block_precision: float, review_recall: float
) -> None:
    scores = np.array([r[0] for r in rows])
    positives = np.array([r[1] for r in rows])
    thresholds = choose_thresholds(scores, positives, block_precision, review_recall)
    assert 0.0 <= thresholds.review <= thresholds.block <= NEVER
    outcomes = policy_outcomes(scores, positives, thresholds)
    assert outcomes["block_precision"] >= block_precision - 1e-9
    assert (
        outcomes["review_recall_of_remaining"] + 1e-9 >= review_recall
        or thresholds.review == thresholds.block
    )
    assert outcomes["automation_rate"] + outcomes["review_rate"] == pytest.approx(1.0)


def test_outcomes_count_errors_on_each_side() -> None:
    scores = np.array([0.95, 0.95, 0.5, 0.5, 0.1, 0.1])
    positives = np.array([1, 0, 1, 0, 1, 0])
    outcomes = policy_outcomes(scores, positives, DecisionThresholds(review=0.4, block=0.9))
    assert outcomes["block_rate"] == pytest.approx(2 / 6)
    assert outcomes["review_rate"] == pytest.approx(2 / 6)
    assert outcomes["automation_rate"] == pytest.approx(4 / 6)
    assert outcomes["missed_positive_rate"] == pytest.approx(1 / 3)
    assert outcomes["wrongly_blocked_rate"] == pytest.approx(1 / 3)
    assert outcomes["block_precision"] == pytest.approx(0.5)


def test_a_missing_score_gets_no_decision_under_any_policy() -> None:
    # NaN compares false with every threshold: without the rule it would be ALLOWed.
    scores = np.array([0.1, np.nan, 0.5, 0.95], dtype=np.float32)
    decided = decide(scores, DecisionThresholds(review=0.4, block=0.9))
    expected = [Decision.ALLOW, Decision.UNSPECIFIED, Decision.REVIEW, Decision.BLOCK]
    assert decided.decisions.tolist() == expected
    assert decided.thresholds.tolist() == [0.4, 0.0, 0.4, 0.9]
    assert decided.labels() == ["allow", "unspecified", "review", "block"]
    assert decide(scores, None).decisions.tolist() == [Decision.UNSPECIFIED] * 4
