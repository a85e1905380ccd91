"""The safety policy per category: the file round-trips, invalid policies are refused, and
``decide_by_category`` on hand-computed cases for each category."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from content_signals.definitions import Decision
from content_signals.errors import SignalsError
from content_signals.models.decisions import decide_by_category
from content_signals.models.policy import (
    CategoryRule,
    DeploymentCalibration,
    SafetyPolicy,
    parse_policy,
    read_policy,
    write_policy,
)

CATEGORIES = ("hate", "offensive", "none")
POLICY = SafetyPolicy(
    categories=list(CATEGORIES),
    rules=[
        CategoryRule(category="hate", block_at=0.9, review_at=0.4),
        CategoryRule(category="offensive", review_at=0.8, review_only_if_not_explicit=True, explicit_at=0.5),
    ],
    deployment=DeploymentCalibration(
        catalogue="musicoset_hits.tsv",
        items=11959,
        prevalence={"hate": 0.001, "offensive": 0.08, "none": 0.919},
        training_prevalence={"hate": 0.06, "offensive": 0.77, "none": 0.17},
        expected={"hate_block_precision": 0.95},
    ),
)


def test_the_policy_file_round_trips(tmp_path: Path) -> None:
    write_policy(tmp_path, POLICY)
    assert read_policy(tmp_path) == POLICY
    assert read_policy(tmp_path / "elsewhere") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories: [hate, none]\nrules: [{category: spam, block_at: 0.5}]", "unknown categories"),
        (
            "categories: [hate, none]\nrules: [{category: hate, block_at: 0.5, review_at: 0.7}]",
            "above block_at",
        ),
        ("categories: [hate, none]\nrules: [{category: hate, block_at: 1.5}]", "less than or equal to 1"),
        ("categories: [hate, none]\nrules: [{category: hate}]", "needs block_at"),
        (
            "categories: [hate, none]\n"
            "rules: [{category: hate, block_at: 0.5}, {category: hate, review_at: 0.1}]",
            "more than one",
        ),
        ("categories: [hate, none]\nrules: [{category: hate, block_at: 0.5, severity: 3}]", "Extra inputs"),
        ("version: 2\ncategories: [hate, none]\nrules: [{category: hate, block_at: 0.5}]", "not supported"),
        (
            "categories: [hate, none]\nrules: [{category: hate, block_at: 0.5}]\n"
            "deployment: {catalogue: c, items: 1, "
            "prevalence: {hate: 0.5}, training_prevalence: {hate: 0.5, none: 0.5}}",
            "every category",
        ),
        ("categories: [hate, none\n", "not a valid safety policy"),
    ],
)
def test_invalid_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(SignalsError, match=message):
        parse_policy(text)


def test_decisions_per_category_on_hand_computed_cases() -> None:
    probabilities = np.array(
        [
            [0.95, 0.04, 0.01],  # hate over block: BLOCK for hate
            [0.50, 0.45, 0.05],  # hate in the review band
            [0.05, 0.90, 0.05],  # offensive, not flagged explicit: REVIEW (label mismatch)
            [0.05, 0.90, 0.05],  # offensive and flagged explicit: ALLOW, explicit suggested
            [0.10, 0.60, 0.30],  # offensive under review: ALLOW, explicit suggested
            [0.02, 0.03, 0.95],  # none
            [0.92, 0.95, 0.00],  # (not a distribution, a stress case) BLOCK outranks offensive's REVIEW
            [np.nan, np.nan, np.nan],  # not scored
            [0.05, 0.85, 0.10],  # offensive, explicit flag unknown: counts as not flagged
        ]
    )
    explicit = [None, False, False, True, False, False, False, True, None]
    decided = decide_by_category(probabilities, CATEGORIES, POLICY, explicit)
    assert decided.labels() == [
        "block",
        "review",
        "review",
        "allow",
        "allow",
        "allow",
        "block",
        "unspecified",
        "review",
    ]
    assert decided.categories == ["hate", "hate", "offensive", "", "", "", "hate", "", "offensive"]
    np.testing.assert_allclose(decided.thresholds, [0.9, 0.4, 0.8, 0, 0, 0, 0.9, 0, 0.8])
    assert decided.explicit_suggested.tolist() == [False, False, True, True, True, False, True, False, True]
    assert decided.reasons()[0] == "block: hate >= 0.900" and decided.reasons()[3] == "allow"
    assert decided.decisions[7] == Decision.UNSPECIFIED
    # Without catalogue flags every offensive item over review_at goes to review.
    assert decide_by_category(probabilities, CATEGORIES, POLICY).labels()[3] == "review"


def test_a_policy_must_fit_the_model() -> None:
    with pytest.raises(ValueError, match="items x 2"):
        decide_by_category(np.zeros((1, 3)), ("hate", "none"), POLICY)
    with pytest.raises(ValueError, match="not among the model's"):
        decide_by_category(np.zeros((1, 2)), ("toxic", "none"), POLICY)
