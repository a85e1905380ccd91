"""The behavioural suite of the safety model: its cases, their scoring per functionality, and the
promotion gate that refuses a version whose pass rate on a functionality drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from content_signals.config import ModelsConfig
from content_signals.errors import SignalsError
from content_signals.models.behaviour import (
    CATEGORIES,
    BehaviourSuite,
    generate_cases,
    load_suite,
    run_suite,
)
from content_signals.models.networks import ModelCard
from content_signals.models.registry import gate_checks
from tests.cards import safety_card

# What issue 18 asks the suite to cover, at least.
REQUIRED = {
    "neutral_group_mention",
    "positive_group_mention",
    "negated_hate",
    "counter_speech",
    "profanity_without_target",
    "explicit_song_titles",
    "threats_against_group",
    "dehumanising_comparison",
    "slur_spelling_variants",
}


def test_the_suite_covers_the_functionalities_and_expands_deterministically() -> None:
    suite = load_suite()
    assert set(suite.functionalities) >= REQUIRED
    cases = generate_cases(suite)
    assert cases == generate_cases(load_suite())
    per_functionality = {
        name: [c for c in cases if c.functionality == name] for name in suite.functionalities
    }
    assert all(len(members) >= 5 for members in per_functionality.values())
    assert not [c.text for c in cases if "{" in c.text or "}" in c.text]
    assert len({c.text for c in cases}) == len(cases)
    threats = [c.text for c in per_functionality["threats_against_group"]]
    assert "All refugees should be shot." in threats
    assert {c.accept for c in per_functionality["explicit_song_titles"]} == {("offensive",)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accept": ["toxic"]}, "unknown categories"),
        ({"templates": ["{nobody} is here"]}, "unknown fillers"),
        ({"accept": []}, "at least 1"),
    ],
)
def test_an_invalid_suite_is_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    import yaml

    document = load_suite().model_dump()
    document["functionalities"]["negated_hate"].update(change)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SignalsError, match=message):
        load_suite(path)


def _answering(rule: dict[str, str], default: str = "none"):  # type: ignore[no-untyped-def]
    """A predictor that answers per text by the first keyword it contains."""

    def predict(texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), len(CATEGORIES)))
        for i, text in enumerate(texts):
            answer = next((category for word, category in rule.items() if word in text.lower()), default)
            rows[i, CATEGORIES.index(answer)] = 1.0
        return rows

    return predict


def test_pass_rates_per_functionality() -> None:
    suite: BehaviourSuite = load_suite()
    # A keyword model: hate for violent words, offensive for swear words: the failure modes are known.
    report = run_suite(_answering({"shot": "hate", "kill": "hate", "wipe out": "hate", "fuck": "offensive"}))
    rates = {r.functionality: r.pass_rate for r in report.results}
    assert rates["threats_against_group"] == 1.0
    assert rates["neutral_group_mention"] == 1.0
    assert rates["dehumanising_comparison"] == 0.0
    assert 0 < rates["explicit_song_titles"] < 1  # "Fuck You" passes, "Shit Happens" does not
    assert report.worst.pass_rate == 0.0
    failures = dict(next(r for r in report.results if r.functionality == "dehumanising_comparison").failures)
    assert failures and set(failures.values()) == {"none"}
    metrics = report.metrics()
    assert set(metrics) == {f"behaviour_{name}" for name in suite.functionalities} | {"behaviour_overall"}
    cases = len(generate_cases(suite))
    assert metrics["behaviour_overall"] == pytest.approx(sum(r.passed for r in report.results) / cases)
    with pytest.raises(SignalsError, match="shape"):
        run_suite(lambda texts: np.zeros((len(texts), 2)))


def _card(version: str, metrics: dict[str, float]) -> ModelCard:
    return safety_card(version, metrics=metrics, evaluation={"test_split_fingerprint": "split-a"})


def test_the_promotion_gate_refuses_a_version_worse_on_any_functionality() -> None:
    gates = ModelsConfig().promotion_gates
    promoted = _card("v1", {"test_weighted_f1": 0.9, "behaviour_negated_hate": 0.9, "behaviour_threats": 0.8})
    slightly = _card(
        "v2", {"test_weighted_f1": 0.9, "behaviour_negated_hate": 0.87, "behaviour_threats": 0.95}
    )
    assert all(c.passed for c in gate_checks(slightly, promoted, gates))
    worse = _card("v3", {"test_weighted_f1": 0.91, "behaviour_negated_hate": 0.6, "behaviour_threats": 0.95})
    failed = [c.metric for c in gate_checks(worse, promoted, gates) if not c.passed]
    assert failed == ["behaviour_negated_hate"]
    # An exact gate for one functionality overrides the pattern's margin.
    strict = gate_checks(slightly, promoted, {**gates, "behaviour_negated_hate": 0.0})
    assert [c.metric for c in strict if not c.passed] == ["behaviour_negated_hate"]
