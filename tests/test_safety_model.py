"""The safety model on the real Davidson corpus: split, training on a slice, artifact, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score

from content_signals.config import PlatformConfig, load_config
from content_signals.definitions import Decision
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models.cards import build_model_card
from content_signals.models.networks import (
    TEST_PREDICTIONS_FILE,
    TEXT_CLASSIFIER,
    TextClassifierHead,
    load_model,
)
from content_signals.models.registry import promote
from content_signals.models.safety import (
    CLASSES,
    SafetyTraining,
    held_out_split,
    load_labelled_texts,
    train_safety,
)
from content_signals.models.text_encoder import shared_encoder
from content_signals.serving.scoring import decisions, discover_models
from content_signals.text import normalise_text
from tests.browser import check_report_page
from tests.conftest import SHARED_DATA

DAVIDSON = SHARED_DATA / "text" / "davidson_labeled.csv"
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-output" / "safety_model_card.png"
SIGNALS = str(Path(sys.executable).parent / "signals")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformConfig, SafetyTraining]:
    config = load_config(
        overrides={
            "data_dir": str(tmp_path_factory.mktemp("safety")),
            "models": {"text_encoder": {"device": "cpu"}},
        }
    )
    corpus = load_labelled_texts(DAVIDSON, limit=900)
    return config, train_safety(config, corpus, epochs=15)


def test_text_normalisation_keeps_roles_not_characters() -> None:
    assert normalise_text("RT @bob_1: look https://t.co/x &amp; see") == "@user : look URL see"
    assert normalise_text("  plain   text ") == "plain text"


def test_the_held_out_split_is_fixed_disjoint_and_stratified() -> None:
    corpus = load_labelled_texts(DAVIDSON)
    assert len(corpus.texts) == 24_783
    split = held_out_split(corpus.labels)
    again = held_out_split(corpus.labels)
    assert split.test_fingerprint == again.test_fingerprint
    np.testing.assert_array_equal(split.test, again.test)
    parts = [set(split.train.tolist()), set(split.validation.tolist()), set(split.test.tolist())]
    assert sum(map(len, parts)) == len(corpus.labels) == len(set().union(*parts))
    overall = np.bincount(corpus.labels) / len(corpus.labels)
    for part in (split.train, split.validation, split.test):
        np.testing.assert_allclose(np.bincount(corpus.labels[part]) / len(part), overall, atol=0.005)
    assert held_out_split(corpus.labels, seed=1).test_fingerprint != split.test_fingerprint


def test_a_sample_keeps_every_class(tmp_path: Path) -> None:
    sample = load_labelled_texts(DAVIDSON, limit=300)
    assert len(sample.texts) == 300
    assert set(sample.labels.tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\nhello,1\n", "lacks column"),
        ("tweet,class\nhello,7\n", "labels must be 0..2"),
    ],
)
def test_a_malformed_corpus_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "corpus.csv"
    path.write_text(content)
    with pytest.raises(SignalsError, match=message):
        load_labelled_texts(path)
    with pytest.raises(SignalsError, match="not found"):
        load_labelled_texts(tmp_path / "missing.csv")


def test_training_on_a_slice_beats_the_majority_class_and_is_recorded(
    trained: tuple[PlatformConfig, SafetyTraining],
) -> None:
    _, result = trained
    card = result.card
    assert card.kind == TEXT_CLASSIFIER and card.classes == list(CLASSES)
    assert card.text_encoder["dimension"] == 384 and card.text_encoder["name"] == "all-MiniLM-L6-v2"
    assert card.training_partition.startswith("davidson_labeled.csv@sha256:")
    test_size = int(sum(sum(row) for row in result.confusion))
    assert test_size == 180  # 20% of 900
    labels = np.repeat(np.arange(3), [sum(row) for row in result.confusion])
    majority = f1_score(labels, np.full_like(labels, np.bincount(labels).argmax()), average="weighted")
    assert result.test_metrics["weighted_f1"] > majority + 0.05

    # The recorded test metrics are exactly scikit-learn's on the stored predictions of the fixed
    # test split (not merely plausible numbers), and the confusion matrix is theirs too.
    stored = pd.read_parquet(result.path / TEST_PREDICTIONS_FILE)
    corpus = load_labelled_texts(DAVIDSON, limit=900)
    np.testing.assert_array_equal(stored["row"], held_out_split(corpus.labels).test)
    np.testing.assert_array_equal(stored["label"], corpus.labels[stored["row"]])
    truth = stored["label"].to_numpy()
    probabilities = stored[[f"p_{c}" for c in CLASSES]].to_numpy()
    predicted = probabilities.argmax(axis=1)
    assert confusion_matrix(truth, predicted, labels=[0, 1, 2]).tolist() == result.confusion
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=[0, 1, 2], zero_division=0
    )
    expected = {
        "weighted_f1": float(np.average(f1, weights=support)),
        "macro_f1": float(f1.mean()),
        "hate_f1": float(f1[CLASSES.index("hate")]),
        "offensive_recall": float(recall[CLASSES.index("offensive")]),
        "neither_precision": float(precision[CLASSES.index("neither")]),
        "hate_support": float(support[CLASSES.index("hate")]),
        "accuracy": float((predicted == truth).mean()),
        "macro_roc_auc": float(roc_auc_score(truth, probabilities, multi_class="ovr", average="macro")),
    }
    for key, value in expected.items():
        assert card.metrics[f"test_{key}"] == pytest.approx(value, abs=1e-9), key


def test_the_saved_head_reloads_and_predicts_the_same(trained: tuple[PlatformConfig, SafetyTraining]) -> None:
    """Weights, class bias and n-gram vocabularies all round-trip: the reloaded head gives the
    held-out probabilities stored at training time."""
    config, result = trained
    card, network = load_model(result.path)
    assert card == result.card and card.ngram_features > 1_000
    assert isinstance(network, TextClassifierHead) and network.ngrams is not None
    assert network.ngrams.size == card.ngram_features
    corpus = load_labelled_texts(DAVIDSON, limit=900)
    stored = pd.read_parquet(result.path / TEST_PREDICTIONS_FILE)
    texts = [normalise_text(corpus.texts[i]) for i in stored["row"]]
    probabilities = network.probabilities(texts, shared_encoder(config.models.text_encoder).encode(texts))
    np.testing.assert_allclose(probabilities, stored[[f"p_{c}" for c in CLASSES]].to_numpy(), atol=1e-4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_serving_discovers_the_text_classifier(trained: tuple[PlatformConfig, SafetyTraining]) -> None:
    config, result = trained
    served = discover_models(DataLayout(config.data_dir))["safety"]
    assert served.version(result.card.version).card.kind == TEXT_CLASSIFIER


def test_cli_refuses_a_bad_corpus_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nhello\n")
    result = subprocess.run(
        [SIGNALS, "--data-dir", str(tmp_path / "data"), "train", "safety", "--corpus", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "lacks column" in result.stderr
    assert not (tmp_path / "data" / "models").exists()


def test_the_decision_policy_is_stored_and_decides_consistently(
    trained: tuple[PlatformConfig, SafetyTraining],
) -> None:
    _, result = trained
    card = result.card
    assert card.review_threshold is not None and card.block_threshold is not None
    assert 0.0 <= card.review_threshold <= card.block_threshold
    assert card.evaluation["decision_targets"] == {"block_precision": 0.95, "review_recall": 0.9}
    rates = [card.metrics[f"test_policy_{k}"] for k in ("automation_rate", "review_rate")]
    assert sum(rates) == pytest.approx(1.0)
    review, block = card.review_threshold, card.block_threshold
    boundary = {max(review - 1e-6, 0.0): Decision.ALLOW if review > 0 else Decision.REVIEW}
    if review < block:
        boundary[review] = Decision.REVIEW
    boundary[block] = Decision.BLOCK
    chosen, used = decisions(card, np.array(list(boundary)))
    assert chosen == list(boundary.values())
    assert used[-1] == block


def test_the_model_card_agrees_with_training_and_renders_in_a_browser(
    trained: tuple[PlatformConfig, SafetyTraining],
) -> None:
    config, result = trained
    layout = DataLayout(config.data_dir)
    report = build_model_card(layout.models_root, layout.model_cards_root, "safety")
    evaluation = report.card["evaluation"]
    # Recomputed from the stored held-out predictions: the same figures training reported.
    for key in ("weighted_f1", "macro_f1", "accuracy", "macro_roc_auc"):
        assert evaluation[key] == pytest.approx(result.card.metrics[f"test_{key}"], abs=1e-9)
    assert evaluation["confusion_matrix"] == result.confusion
    # Calibration: each reliability bin's mean confidence lies in its tenth of [0, 1], the bins
    # cover every test text, and the ECE is their size-weighted confidence-accuracy gap.
    curve, n = evaluation["reliability"], evaluation["n"]
    assert sum(point["n"] for point in curve) == n
    for point in curve:
        assert point["bin"] / 10 <= point["confidence"] <= (point["bin"] + 1) / 10, point
    assert evaluation["expected_calibration_error"] == pytest.approx(
        sum(p["n"] / n * abs(p["confidence"] - p["accuracy"]) for p in curve), abs=1e-12
    )
    assert sum(s["n"] for s in evaluation["slices"]["text length"].values()) == evaluation["n"]
    assert evaluation["policy"]["automation_rate"] == pytest.approx(
        result.card.metrics["test_policy_automation_rate"]
    )
    assert report.card["comparison"] is None  # nothing promoted yet
    assert json.loads(report.json_path.read_text())["version"] == result.card.version

    def inspect(page: Any) -> None:
        assert page.locator("h1").inner_text() == f"Model card: safety {result.card.version}"
        # Confusion matrix, reliability, automation trade-off; calibration before / after and the
        # behavioural suite (one corpus: no cross-corpus plot; no catalogue: no decision rates).
        assert page.locator("img").count() == 5

    check_report_page(report.html_path, SCREENSHOT, inspect)


def test_a_second_version_is_compared_with_the_promoted_one(
    trained: tuple[PlatformConfig, SafetyTraining],
) -> None:
    config, result = trained
    layout = DataLayout(config.data_dir)
    model_root = layout.model_dir("safety")
    promote(model_root, result.card.version, config.models.promotion_gates)
    second = train_safety(config, load_labelled_texts(DAVIDSON, limit=900), epochs=3)
    report = build_model_card(layout.models_root, layout.model_cards_root, "safety", second.card.version)
    comparison = report.card["comparison"]
    assert comparison["promoted_version"] == result.card.version
    assert comparison["comparable"] is True  # same corpus, same seed: the same test split
    delta = comparison["metrics"]["weighted_f1"]
    assert delta["delta"] == pytest.approx(
        second.test_metrics["weighted_f1"] - result.test_metrics["weighted_f1"]
    )
    assert "Against the promoted version" in report.html_path.read_text()
