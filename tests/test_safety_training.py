"""The safety model trained on several corpora: the partial-label loss, calibration, per-corpus and
cross-corpus figures, the deployment policy (policy.yaml) and the card's safety sections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from content_signals.config import PlatformConfig, load_config
from content_signals.layout import DataLayout
from content_signals.models.cards import build_model_card
from content_signals.models.networks import WEIGHTS_FILE, load_model
from content_signals.models.policy import read_policy
from content_signals.models.safety import (
    CLASSES,
    SafetyTraining,
    corpus_metrics,
    corpus_split,
    load_safety_corpora,
    train_safety,
)
from content_signals.models.safety_calibration import (
    calibration_report,
    fit_calibration,
    partial_label_nll,
    softmax,
)
from content_signals.models.safety_deployment import (
    CatalogueTexts,
    ValidationScores,
    choose_policy,
    labels_for_interval,
    read_catalogue_file,
)
from tests.conftest import SHARED_DATA

TEXTS = SHARED_DATA / "text"
MUSICOSET = SHARED_DATA / "catalog" / "musicoset_hits.tsv"


def test_the_partial_label_loss_matches_hand_computed_numbers() -> None:
    probabilities = torch.tensor([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    logits = torch.log(probabilities) + 7.0  # softmax ignores a constant
    allowed = torch.tensor([[False, True, True], [True, False, False], [True, True, True]])
    # -log(0.3 + 0.5), -log(0.2), -log(1)
    per_item = [0.22314355, 1.60943791, 0.0]
    assert partial_label_nll(logits, allowed).item() == pytest.approx(np.mean(per_item), abs=1e-6)
    weights = torch.tensor([1.0, 3.0, 0.0])
    assert partial_label_nll(logits, allowed, weights).item() == pytest.approx(
        (per_item[0] + 3 * per_item[1]) / 4, abs=1e-6
    )
    # A single allowed category is ordinary cross-entropy.
    single = torch.eye(3, dtype=torch.bool)[[2, 0, 0]]
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([2, 0, 0]))
    assert partial_label_nll(logits, single).item() == pytest.approx(expected.item(), abs=1e-6)


def test_calibration_repairs_overconfident_shifted_probabilities() -> None:
    rng = np.random.default_rng(0)
    n = 4_000
    labels = rng.choice(3, size=n, p=[0.1, 0.6, 0.3])
    true_logits = rng.normal(size=(n, 3))
    true_logits[np.arange(n), labels] += 1.5
    # Overconfident (x3) and leaning towards the first class (+1): what class weights do.
    raw = 3.0 * true_logits + np.array([1.0, 0.0, 0.0])
    allowed = np.eye(3, dtype=bool)[labels]
    allowed[: n // 10, 1:] = labels[: n // 10, None] != 0  # some "not class 0" partial labels
    allowed[: n // 10, 0] = labels[: n // 10] == 0
    fitted = fit_calibration(raw[: n // 2], allowed[: n // 2])
    assert 1.5 < fitted.temperature < 4.5
    report = calibration_report(allowed[n // 2 :], softmax(raw[n // 2 :]), fitted.apply(raw[n // 2 :]))
    assert report["after"]["nll"] < report["before"]["nll"] - 0.1
    assert report["after"]["ece"] < report["before"]["ece"] / 2


def _validation(n: int = 3_000) -> ValidationScores:
    """Calibrated-looking validation scores: hate rare in the corpus, higher P(hate) for hate."""
    rng = np.random.default_rng(1)
    labels = rng.choice(3, size=n, p=[0.1, 0.6, 0.3])
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), labels] += 2.5
    return ValidationScores(softmax(logits), labels)


def _catalogue(hate_share: float, n: int = 2_000) -> tuple[CatalogueTexts, np.ndarray]:
    rng = np.random.default_rng(2)
    labels = rng.choice(3, size=n, p=[hate_share, 0.05, 0.95 - hate_share])
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), labels] += 2.5
    explicit: list[bool | None] = [bool(label == 1) or bool(rng.random() < 0.02) for label in labels]
    texts = [f"title {i}" for i in range(n)]
    return CatalogueTexts("synthetic", texts, explicit, "x"), softmax(logits)


def test_the_hate_block_threshold_rises_as_the_catalogue_prevalence_falls() -> None:
    validation = _validation()
    priors = np.bincount(validation.labels, minlength=3) / len(validation.labels)
    policies = {}
    for share in (0.05, 0.002):
        catalogue, probabilities = _catalogue(share)
        policy, report = choose_policy(list(CLASSES), validation, priors, catalogue, probabilities)
        policies[share] = policy
        assert policy.deployment is not None and policy.deployment.items == len(catalogue)
        # The EM finds roughly the catalogue's hate share.
        assert report["prevalence"]["hate"] == pytest.approx(share, abs=max(0.02, share))
        assert report["catalogue"]["rates"]["block"] + report["catalogue"]["rates"]["review"] <= 1.0
        assert report["labels_needed"]["random_items_for_10_hate"] >= 10
        offensive = policy.rule("offensive")
        assert offensive is not None and offensive.block_at is None and offensive.review_only_if_not_explicit
        assert offensive.explicit_at is not None
    common, rare = (policies[s].rule("hate") for s in (0.05, 0.002))
    assert common is not None and rare is not None
    common_block = common.block_at if common.block_at is not None else 2.0
    rare_block = rare.block_at if rare.block_at is not None else 2.0
    assert rare_block > common_block


def test_labels_needed_follow_the_binomial_interval() -> None:
    assert labels_for_interval(0.5, 0.05) == 385  # 1.96² · 0.25 / 0.05²
    assert labels_for_interval(0.9, 0.05) == 139


def test_musicoset_reads_through_its_catalogue_mapping() -> None:
    catalogue = read_catalogue_file(MUSICOSET, "musicoset")
    assert len(catalogue) == 11_959
    assert catalogue.has_flags and 0 < catalogue.flagged.mean() < 0.5
    assert all(isinstance(t, str) and t for t in catalogue.texts[:100])


def test_corpus_splits_are_fixed_and_stratified_per_corpus() -> None:
    corpora = load_safety_corpora(TEXTS, limit=400)
    assert [c.name for c in corpora] == ["davidson", "mlma", "ethos"]
    ethos = corpora[2]
    split = corpus_split(ethos)
    assert split.test_fingerprint == corpus_split(ethos).test_fingerprint
    share = ethos.is_hate.mean()
    assert ethos.is_hate[split.test].mean() == pytest.approx(share, abs=0.02)
    figures = corpus_metrics(ethos.allowed[split.test], np.tile([0.6, 0.2, 0.2], (len(split.test), 1)))
    assert "macro_f1" not in figures  # partial labels: hate against the rest only
    assert figures["hate_binary_f1"] == pytest.approx(2 * share / (1 + share), abs=0.03)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformConfig, SafetyTraining]:
    config = load_config(
        overrides={
            "data_dir": str(tmp_path_factory.mktemp("safety-multi")),
            "models": {"text_encoder": {"device": "cpu"}},
        }
    )
    corpora = load_safety_corpora(TEXTS, limit=300)
    whole = read_catalogue_file(MUSICOSET, "musicoset")
    catalogue = CatalogueTexts(whole.name, whole.texts[:400], whole.explicit[:400], whole.sha256)
    return config, train_safety(config, corpora, epochs=4, catalogue=catalogue)


def test_per_corpus_and_cross_corpus_figures_are_recorded(
    trained: tuple[PlatformConfig, SafetyTraining],
) -> None:
    _, result = trained
    metrics = result.card.metrics
    for name in ("davidson", "mlma"):
        for key in ("weighted_f1", "macro_f1", "hate_f1", "hate_macro_f1"):
            assert 0.0 <= metrics[f"test_{name}_{key}"] <= 1.0, (name, key)
    assert "test_ethos_macro_f1" not in metrics
    assert 0.0 <= metrics["test_ethos_hate_macro_f1"] <= 1.0
    assert 0.0 <= metrics["test_ethos_hate_binary_f1"] <= 1.0
    assert set(result.cross_corpus) == {"davidson", "mlma", "ethos"}
    for figures in result.cross_corpus.values():
        assert 0.0 <= figures["hate_macro_f1"] <= 1.0
        assert 0.0 <= figures["hate_macro_f1_prior_adjusted"] <= 1.0
    assert metrics["cross_ethos_hate_macro_f1"] == result.cross_corpus["ethos"]["hate_macro_f1"]
    # The legacy figures are the primary corpus's (davidson): its fixed test split.
    assert metrics["test_weighted_f1"] == metrics["test_davidson_weighted_f1"]
    assert result.card.training_partition.count("@sha256:") == 3


def test_calibration_improves_the_validation_likelihood(
    trained: tuple[PlatformConfig, SafetyTraining],
) -> None:
    _, result = trained
    metrics = result.card.metrics
    assert metrics["validation_nll"] <= metrics["validation_nll_before_calibration"] + 1e-9
    assert metrics["validation_ece"] <= metrics["validation_ece_before_calibration"] + 0.02
    _, network = load_model(result.path)
    assert float(network.temperature) == pytest.approx(metrics["calibration_temperature"], rel=1e-5)  # type: ignore[arg-type]


def test_the_policy_is_stored_valid_and_calibrated_for_the_catalogue(
    trained: tuple[PlatformConfig, SafetyTraining],
) -> None:
    _, result = trained
    policy = read_policy(result.path)
    assert policy is not None and policy == result.policy
    assert policy.categories == list(CLASSES)
    assert policy.deployment is not None and policy.deployment.items == 400
    assert abs(sum(policy.deployment.prevalence.values()) - 1) < 1e-6
    hate, offensive = policy.rule("hate"), policy.rule("offensive")
    assert hate is not None and hate.review_at is not None
    assert offensive is not None and offensive.block_at is None and offensive.explicit_at is not None
    metrics = result.card.metrics
    rates = [metrics[f"catalogue_{k}_rate"] for k in ("block", "review", "allow")]
    assert sum(rates) == pytest.approx(1.0)
    # The legacy single-score thresholds stay filled for today's job and Score.
    assert result.card.review_threshold is not None and result.card.block_threshold is not None


def test_behaviour_pass_rates_are_metrics(trained: tuple[PlatformConfig, SafetyTraining]) -> None:
    _, result = trained
    assert result.behaviour is not None
    metrics = result.card.metrics
    assert metrics["behaviour_overall"] == pytest.approx(result.behaviour.overall)
    assert {k for k in metrics if k.startswith("behaviour_")} >= {
        f"behaviour_{r.functionality}" for r in result.behaviour.results
    }


def test_the_card_has_the_safety_sections(trained: tuple[PlatformConfig, SafetyTraining]) -> None:
    config, result = trained
    layout = DataLayout(config.data_dir)
    report = build_model_card(layout.models_root, layout.model_cards_root, "safety", result.card.version)
    safety = report.card["safety"]
    assert set(safety["corpora"]) == {"davidson", "mlma", "ethos"}
    assert set(safety["cross_corpus"]) == {"davidson", "mlma", "ethos"}
    assert safety["deployment"]["catalogue"]["items"] == 400
    assert safety["behaviour"]["functionalities"]
    page = report.html_path.read_text()
    for heading in (
        "Per corpus",
        "Cross-corpus",
        "Calibration",
        "Deployment calibration",
        "Behavioural suite",
    ):
        assert heading in page
    # Confusion, reliability, trade-off + cross-corpus, calibration, catalogue rates, behaviour.
    assert page.count("<img") == 7
    json.loads(report.json_path.read_text())


def test_a_head_saved_before_the_temperature_loads_unchanged(
    trained: tuple[PlatformConfig, SafetyTraining], tmp_path: Path
) -> None:
    _, result = trained
    old = tmp_path / "v1"
    old.mkdir()
    for file in result.path.iterdir():
        (old / file.name).write_bytes(file.read_bytes())
    state = load_file(str(old / WEIGHTS_FILE))
    state.pop("temperature")
    save_file(state, str(old / WEIGHTS_FILE))
    _, network = load_model(old)
    assert float(network.temperature) == 1.0  # type: ignore[arg-type]
