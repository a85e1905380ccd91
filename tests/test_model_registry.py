"""Promotion gates: a worse version is refused, an override is recorded with its reason."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models.networks import (
    FEATURE_MLP,
    EngagementNet,
    ModelCard,
    TextClassifierHead,
    save_model,
)
from content_signals.models.registry import (
    default_of,
    default_version,
    latest_version,
    next_version,
    ordered_versions,
    promote,
    promoted_version,
    promotion_history,
    stored_versions,
    version_number,
)
from content_signals.serving.scoring import discover_models
from tests.cards import safety_card

GATES = {"test_weighted_f1": 0.0, "test_macro_f1": 0.02}
SIGNALS = str(Path(sys.executable).parent / "signals")


def _card(version: str, weighted_f1: float, macro_f1: float, split: str = "split-a") -> ModelCard:
    return safety_card(
        version,
        trained_at="2026-11-23T00:00:00+00:00",
        metrics={"test_weighted_f1": weighted_f1, "test_macro_f1": macro_f1},
        text_encoder={"name": "all-MiniLM-L6-v2", "dimension": 8},
        evaluation={"test_split_fingerprint": split},
    )


def _save(root: Path, card: ModelCard) -> None:
    save_model(root, card, TextClassifierHead(8, card.hidden_units, 3, n_ngrams=4))


@pytest.fixture
def model_root(tmp_path: Path) -> Path:
    root = tmp_path / "models" / "safety"
    _save(root, _card("v1", 0.88, 0.69))
    _save(root, _card("v2", 0.89, 0.68))  # better weighted F1; macro F1 within the allowed drop
    _save(root, _card("v3", 0.87, 0.70))  # worse weighted F1
    _save(root, _card("v4", 0.95, 0.80, split="split-b"))  # another test split
    return root


def test_first_promotion_has_nothing_to_beat(model_root: Path) -> None:
    assert promoted_version(model_root) is None
    record = promote(model_root, "v1", GATES)
    assert (record.version, record.previous, record.checks) == ("v1", None, [])
    assert promoted_version(model_root) == "v1"


def test_a_better_version_passes_and_a_worse_one_is_refused(model_root: Path) -> None:
    promote(model_root, "v1", GATES)
    record = promote(model_root, "v2", GATES)
    assert record.previous == "v1" and all(": ok" in c for c in record.checks)
    with pytest.raises(SignalsError, match=r"test_weighted_f1: 0\.8700 vs promoted 0\.8900.*FAILS"):
        promote(model_root, "v3", GATES)
    assert promoted_version(model_root) == "v2"  # unchanged by the refusal


def test_versions_on_different_test_splits_are_not_compared(model_root: Path) -> None:
    promote(model_root, "v1", GATES)
    with pytest.raises(SignalsError, match="different test splits"):
        promote(model_root, "v4", GATES)


def test_an_override_needs_a_reason_and_is_recorded(model_root: Path) -> None:
    promote(model_root, "v2", GATES)
    with pytest.raises(SignalsError, match="needs a reason"):
        promote(model_root, "v3", GATES, override_reason="  ")
    record = promote(model_root, "v3", GATES, override_reason="hate recall matters more this quarter")
    assert promoted_version(model_root) == "v3"
    history = promotion_history(model_root)
    assert [(p.version, p.previous) for p in history] == [("v2", None), ("v3", "v2")]
    assert history[-1].override_reason == record.override_reason
    assert history[-1].promoted_by


def test_an_unknown_version_is_named(model_root: Path) -> None:
    with pytest.raises(SignalsError, match=r"no version v9 \(versions: v1, v2, v3, v4\)"):
        promote(model_root, "v9", GATES)


def test_gates_need_a_shared_metric(model_root: Path) -> None:
    promote(model_root, "v1", GATES)
    with pytest.raises(SignalsError, match="no gate metric"):
        promote(model_root, "v2", {"validation_roc_auc": 0.0})


def test_cli_refuses_a_worse_model_with_one_line_and_exit_code(model_root: Path) -> None:
    data_dir = model_root.parents[1]
    run = [SIGNALS, "--data-dir", str(data_dir), "promote", "safety"]
    assert subprocess.run([*run, "v2"], capture_output=True, text=True, check=False).returncode == 0
    refused = subprocess.run([*run, "v3"], capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    assert "refusing to promote safety v3 over v2" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    no_reason = subprocess.run([*run, "v3", "--override"], capture_output=True, text=True, check=False)
    assert no_reason.returncode != 0 and "--override needs --reason" in no_reason.stderr
    forced = subprocess.run(
        [*run, "v3", "--override", "--reason", "rollback drill"], capture_output=True, text=True, check=False
    )
    assert forced.returncode == 0, forced.stderr
    assert promoted_version(model_root) == "v3"


def test_cards_with_unknown_kinds_are_refused() -> None:
    with pytest.raises(SignalsError, match="unknown kind"):
        replace(_card("v1", 0.5, 0.5), kind="pickle")


def test_serving_defaults_to_the_promoted_version_else_the_newest(tmp_path: Path) -> None:
    root = tmp_path / "models" / "engagement"
    for version, auc in (("v1", 0.70), ("v2", 0.72)):
        card = replace(
            _card(version, 0.0, 0.0),
            name="engagement",
            kind=FEATURE_MLP,
            classes=[],
            text_encoder={},
            features=["a", "b"],
            feature_means=[0.0, 0.0],
            feature_stds=[1.0, 1.0],
            metrics={"validation_roc_auc": auc},
        )
        save_model(root, card, EngagementNet(2, card.hidden_units))
    layout = DataLayout(tmp_path)
    assert discover_models(layout)["engagement"].version("").card.version == "v2"
    promote(root, "v1", {"validation_roc_auc": 0.0})
    promote(root, "v2", {"validation_roc_auc": 0.0})
    with pytest.raises(SignalsError, match="validation_roc_auc"):
        promote(root, "v1", {"validation_roc_auc": 0.0})
    promote(root, "v1", {"validation_roc_auc": 0.0}, override_reason="roll back")
    served = discover_models(layout)["engagement"]
    assert served.promoted == "v1"
    assert served.version("").card.version == "v1"
    assert served.version("v2").card.version == "v2"


def test_versions_are_named_vN_and_ordered_by_number(tmp_path: Path) -> None:
    assert [version_number(n) for n in ("v1", "v10", "v007", "v", "v1.tmp", ".v2.tmp", "x3", "v٣")] == [
        1, 10, 7, None, None, None, None, None,
    ]  # fmt: skip
    assert ordered_versions(["v10", "v9", "promoted.json", "v1"]) == ["v1", "v9", "v10"]
    assert default_of(["v10", "v9"], None) == "v10" and default_of(["v10", "v9"], "v9") == "v9"
    assert default_of(["v10"], "v3") == "v10" and default_of([], None) is None

    root = tmp_path / "safety"
    assert (stored_versions(root), latest_version(root), next_version(root)) == ([], None, "v1")
    for version in ("v9", "v10"):
        _save(root, _card(version, 0.88, 0.69))
    (root / "v11").mkdir()  # incomplete: no card
    (root / ".v12.tmp").mkdir()  # a save in progress
    assert stored_versions(root) == ["v9", "v10"]
    assert (latest_version(root), next_version(root), default_version(root)) == ("v10", "v11", "v10")
    promote(root, "v9", GATES)
    assert default_version(root) == "v9" and latest_version(root) == "v10"
