"""A safety model version's decision policy per category: data stored with the version
(``policy.yaml`` in its folder), validated, read by everything that decides.

One "unsafe" score mixes two things a trust & safety team treats in opposite ways: profanity in a
song title belongs under the explicit label, hate against a protected group in a block queue. So
the policy has one rule per category, for example::

    version: 1
    categories: [hate, offensive, none]
    rules:
      - category: hate            # attacks a protected group
        block_at: 0.91            # P(hate) at or above: BLOCK
        review_at: 0.35           # at or above (and under block_at): REVIEW
      - category: offensive       # profanity, insults, sexual language without a target group
        explicit_at: 0.5          # sets explicit_suggested; never blocks
        review_at: 0.8
        review_only_if_not_explicit: true   # an explicit-label mismatch is the integrity task
    deployment:                   # where the thresholds were calibrated (optional)
      ...

The rule that turns a policy and probabilities into ALLOW / REVIEW / BLOCK is
:func:`content_signals.models.decisions.decide_by_category`; this module only says what a policy is.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from content_signals.errors import SignalsError
from content_signals.files import write_atomic

POLICY_FILE = "policy.yaml"
POLICY_VERSION = 1


class CategoryRule(BaseModel):
    """What one category's probability does. Thresholds are probabilities in [0, 1]; an unset one
    never fires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str
    block_at: float | None = Field(default=None, ge=0, le=1)
    review_at: float | None = Field(default=None, ge=0, le=1)
    # REVIEW only for items the catalogue does not flag explicit (unknown flag counts as not).
    review_only_if_not_explicit: bool = False
    # At or above: the item should carry the explicit label (explicit_suggested).
    explicit_at: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> CategoryRule:
        if self.block_at is not None and self.review_at is not None and self.review_at > self.block_at:
            raise ValueError(f"{self.category}: review_at {self.review_at} is above block_at {self.block_at}")
        if self.block_at is None and self.review_at is None and self.explicit_at is None:
            raise ValueError(f"{self.category}: a rule needs block_at, review_at or explicit_at")
        return self


class DeploymentCalibration(BaseModel):
    """Where the thresholds were calibrated: the catalogue's estimated category prevalence (from the
    model's scores on its unlabelled text, Saerens EM) and what the thresholds are expected to
    achieve there (held-out rates re-weighted to that prevalence)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    catalogue: str
    items: int = Field(ge=0)
    prevalence: dict[str, float]
    training_prevalence: dict[str, float]
    expected: dict[str, float] = Field(default_factory=dict)
    # Reviewed catalogue labels that refined the estimate (0: scores alone).
    reviewed_labels: int = Field(default=0, ge=0)


class SafetyPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = POLICY_VERSION
    categories: list[str] = Field(min_length=2)
    rules: list[CategoryRule] = Field(min_length=1)
    deployment: DeploymentCalibration | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SafetyPolicy:
        if self.version != POLICY_VERSION:
            raise ValueError(f"policy version {self.version} is not supported (expected {POLICY_VERSION})")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"categories repeat: {self.categories}")
        named = [rule.category for rule in self.rules]
        unknown = sorted(set(named) - set(self.categories))
        if unknown:
            raise ValueError(f"rules for unknown categories {unknown} (categories: {self.categories})")
        if len(set(named)) != len(named):
            raise ValueError(f"more than one rule for a category: {named}")
        if self.deployment is not None:
            for name, shares in (
                ("prevalence", self.deployment.prevalence),
                ("training_prevalence", self.deployment.training_prevalence),
            ):
                if set(shares) != set(self.categories) or abs(sum(shares.values()) - 1) > 1e-6:
                    raise ValueError(f"deployment {name} must give every category a share, summing to 1")
        return self

    def rule(self, category: str) -> CategoryRule | None:
        return next((r for r in self.rules if r.category == category), None)

    @property
    def explicit_rule(self) -> CategoryRule | None:
        return next((r for r in self.rules if r.explicit_at is not None), None)


def read_policy(folder: Path) -> SafetyPolicy | None:
    """The policy stored in a model version's folder; None when the version has none."""
    path = folder / POLICY_FILE
    if not path.exists():
        return None
    return parse_policy(path.read_text(), str(path))


def parse_policy(text: str, source: str = "policy") -> SafetyPolicy:
    try:
        return SafetyPolicy.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise SignalsError(f"{source}: not a valid safety policy: {exc}") from exc


def policy_document(policy: SafetyPolicy) -> bytes:
    """The policy as ``policy.yaml`` holds it (for writing it with a version's other files)."""
    document = policy.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(document, sort_keys=False).encode()


def write_policy(folder: Path, policy: SafetyPolicy) -> Path:
    path = folder / POLICY_FILE
    write_atomic(path, policy_document(policy))
    return path
