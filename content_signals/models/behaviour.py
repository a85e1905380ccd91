"""Behavioural tests of a text safety model: templated cases with expected outcomes per
functionality (CheckList, Ribeiro et al. 2020; HateCheck, Röttger et al. 2021).

Held-out F1 says how often a model agrees with annotators on texts like its training data; it does
not say whether the model blocks a proud "gay pride anthem", lets a threat through, or treats a
song title with a swear word as hate. The suite (``behaviour_suite.yaml``, written by hand) names
such functionalities, expands each one's templates over fixed fillers, and accepts an answer when
the model's most probable category is one the functionality allows. Pass rates per functionality go
on the model card and into the version's metrics as ``behaviour_<functionality>``, where the
promotion gate (``models.promotion_gates``, pattern ``behaviour_*``) refuses a version whose pass
rate on any functionality drops by more than the configured margin.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from content_signals.errors import SignalsError

SUITE_PATH = Path(__file__).with_name("behaviour_suite.yaml")
CATEGORIES = ("hate", "offensive", "none")
METRIC_PREFIX = "behaviour_"
OVERALL = "overall"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

# Texts in, one row of category probabilities (in ``categories`` order) per text out.
Predict = Callable[[list[str]], np.ndarray]


class Functionality(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    accept: list[str] = Field(min_length=1)
    templates: list[str] = Field(min_length=1)


class BehaviourSuite(BaseModel):
    """The suite file, validated: every accepted category known, every placeholder filled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    fillers: dict[str, list[str]]
    functionalities: dict[str, Functionality]

    @model_validator(mode="after")
    def _consistent(self) -> BehaviourSuite:
        for name, functionality in self.functionalities.items():
            unknown = set(functionality.accept) - set(CATEGORIES)
            if unknown:
                raise ValueError(f"{name}: unknown categories {sorted(unknown)} (known: {CATEGORIES})")
            for template in functionality.templates:
                missing = set(_PLACEHOLDER.findall(template)) - set(self.fillers)
                if missing:
                    raise ValueError(f"{name}: template {template!r} uses unknown fillers {sorted(missing)}")
        return self


@dataclass(frozen=True)
class BehaviourCase:
    functionality: str
    text: str
    accept: tuple[str, ...]


@dataclass(frozen=True)
class FunctionalityResult:
    functionality: str
    cases: int
    passed: int
    # A few texts the model got wrong, with what it answered: what a reviewer reads first.
    failures: tuple[tuple[str, str], ...]

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cases if self.cases else 1.0


@dataclass(frozen=True)
class BehaviourReport:
    suite_fingerprint: str
    results: tuple[FunctionalityResult, ...]

    @property
    def overall(self) -> float:
        cases = sum(r.cases for r in self.results)
        return sum(r.passed for r in self.results) / cases if cases else 1.0

    @property
    def worst(self) -> FunctionalityResult:
        return min(self.results, key=lambda r: (r.pass_rate, r.functionality))

    def metrics(self) -> dict[str, float]:
        """Pass rates as model-card metrics: ``behaviour_<functionality>`` and ``behaviour_overall``."""
        rates = {f"{METRIC_PREFIX}{r.functionality}": r.pass_rate for r in self.results}
        return {**rates, f"{METRIC_PREFIX}{OVERALL}": self.overall}


def load_suite(path: Path = SUITE_PATH) -> BehaviourSuite:
    try:
        return BehaviourSuite.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise SignalsError(f"{path}: not a valid behaviour suite ({exc})") from exc


def _expand(template: str, fillers: dict[str, list[str]]) -> list[str]:
    names = list(dict.fromkeys(_PLACEHOLDER.findall(template)))
    texts = []
    for values in itertools.product(*(fillers[n] for n in names)):
        text = template
        for name, value in zip(names, values, strict=True):
            text = text.replace("{" + name + "}", value)
        texts.append(text[0].upper() + text[1:] if template[0] == "{" and text else text)
    return texts


def generate_cases(suite: BehaviourSuite) -> list[BehaviourCase]:
    """Every case of the suite, in file order (deterministic: the same suite, the same cases)."""
    return [
        BehaviourCase(name, text, tuple(functionality.accept))
        for name, functionality in suite.functionalities.items()
        for template in functionality.templates
        for text in _expand(template, suite.fillers)
    ]


@cache
def _fingerprint(cases: tuple[BehaviourCase, ...]) -> str:
    digest = hashlib.sha256()
    for case in cases:
        digest.update(f"{case.functionality}\t{case.text}\t{','.join(case.accept)}\n".encode())
    return digest.hexdigest()[:16]


def run_suite(
    predict: Predict,
    categories: Sequence[str] = CATEGORIES,
    suite: BehaviourSuite | None = None,
    max_failures_shown: int = 5,
) -> BehaviourReport:
    """Score every case with ``predict`` and count, per functionality, the answers it accepts."""
    cases = generate_cases(suite or load_suite())
    probabilities = np.asarray(predict([c.text for c in cases]))
    if probabilities.shape != (len(cases), len(categories)):
        raise SignalsError(
            f"predict returned shape {probabilities.shape}, expected {(len(cases), len(categories))}"
        )
    answers = [categories[i] for i in np.argmax(probabilities, axis=1)]
    results = []
    for name, group in itertools.groupby(
        zip(cases, answers, strict=True), key=lambda pair: pair[0].functionality
    ):
        members = list(group)
        wrong = [(case.text, answer) for case, answer in members if answer not in case.accept]
        results.append(
            FunctionalityResult(
                name, len(members), len(members) - len(wrong), tuple(wrong[:max_failures_shown])
            )
        )
    return BehaviourReport(_fingerprint(tuple(cases)), tuple(results))
