"""The engagement model's card: held-out predictions stored at training, metrics, calibration, slices
known at the feature time, and promotion against a worse version (real Spark, Feast and torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from content_signals.errors import SignalsError
from content_signals.models.cards import ModelCardReport, build_model_card
from content_signals.models.engagement import CLASSES, MODEL_NAME, held_out_metrics
from content_signals.models.evaluation import CREATOR_SIZE_BANDS, UNKNOWN, band_labels
from content_signals.models.networks import TEST_PREDICTIONS_FILE, ModelCard, load_model, save_model
from content_signals.models.registry import promote, promoted_version, read_card, stored_versions
from content_signals.partitions import partition_timestamp
from content_signals.synthetic import CONTENT_TYPES
from tests.browser import check_report_page
from tests.conftest import Pipeline

pytestmark = pytest.mark.slow
SIGNALS = str(Path(sys.executable).parent / "signals")
SLICES = ("content type", "language", "creator size band")
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-output" / "engagement_model_card.png"
PROBABILITIES = [f"p_{c}" for c in CLASSES]


@pytest.fixture(scope="module")
def trained(pipeline: Pipeline) -> tuple[ModelCard, pd.DataFrame]:
    """The pipeline's engagement version (trained once per session) and its held-out predictions."""
    model_root = pipeline.layout.model_dir(MODEL_NAME)
    version = stored_versions(model_root)[-1]
    return read_card(model_root, version), pd.read_parquet(model_root / version / TEST_PREDICTIONS_FILE)


@pytest.fixture(scope="module")
def report(pipeline: Pipeline, trained: tuple[ModelCard, pd.DataFrame]) -> ModelCardReport:
    card, _ = trained
    cards_root = pipeline.layout.model_cards_root
    return build_model_card(pipeline.layout.models_root, cards_root, MODEL_NAME, card.version)


def test_training_stores_held_out_predictions_with_slices(trained: tuple[ModelCard, pd.DataFrame]) -> None:
    card, predictions = trained
    assert card.classes == list(CLASSES)
    assert list(predictions.columns) == [
        "content_id",
        "label",
        *PROBABILITIES,
        "content_type",
        "language",
        "creator_size_band",
    ]
    assert len(predictions) == card.metrics["validation_rows"] > 0
    assert predictions["content_id"].is_unique
    assert set(predictions["label"]) == {0, 1}
    np.testing.assert_allclose(predictions[PROBABILITIES].sum(axis=1), 1.0, atol=1e-6)
    # The gate metrics promotion reads all exist on an engagement card.
    for metric in ("test_weighted_f1", "test_macro_f1", "validation_roc_auc", "test_macro_roc_auc"):
        assert np.isfinite(card.metrics[metric]), metric
    assert card.metrics["validation_roc_auc"] == pytest.approx(card.metrics["test_macro_roc_auc"])
    # What a registry needs to place the version: features as of the end of the day, labels after.
    day = date.fromisoformat(card.training_partition)
    assert card.evaluation["feature_time"] == partition_timestamp(day).isoformat()
    assert card.evaluation["label_window"] == [(day + timedelta(days=d)).isoformat() for d in (1, 7)]


def test_slices_are_the_values_known_at_the_feature_time(
    pipeline: Pipeline, trained: tuple[ModelCard, pd.DataFrame]
) -> None:
    """Language and creator size come from the feature day's validated partitions (the training
    set's point-in-time values), not from the catalogue as it is now or from a later day."""
    _, predictions = trained
    layout, day = pipeline.layout, pipeline.feature_day
    metadata = pd.read_parquet(layout.signal_partition("content_metadata", day))
    profile = pd.read_parquet(layout.signal_partition("creator_profile", day))
    catalogue = pd.read_parquet(layout.content_path)
    expected = (
        predictions[["content_id"]]
        .merge(metadata[["content_id", "language", "item_creator_id"]], on="content_id", how="left")
        .merge(
            profile[["creator_id", "catalogue_size"]],
            left_on="item_creator_id",
            right_on="creator_id",
            how="left",
        )
        .merge(catalogue[["content_id", "content_type"]], on="content_id", how="left")
    )
    assert predictions["language"].tolist() == expected["language"].fillna(UNKNOWN).tolist()
    assert predictions["content_type"].tolist() == expected["content_type"].tolist()
    bands = band_labels(expected["catalogue_size"], CREATOR_SIZE_BANDS).tolist()
    assert predictions["creator_size_band"].tolist() == bands
    assert set(predictions["content_type"]) <= set(CONTENT_TYPES.tolist())
    assert set(bands) <= {name for _, _, name in CREATOR_SIZE_BANDS} | {UNKNOWN}
    assert len(set(bands)) > 1  # the synthetic catalogue's power-law creators span several bands


def test_the_card_reports_metrics_calibration_confusion_and_slices(
    report: ModelCardReport, trained: tuple[ModelCard, pd.DataFrame]
) -> None:
    card, predictions = trained
    document = json.loads(report.json_path.read_text())
    evaluation = document["evaluation"]
    n = evaluation["n"]
    assert n == len(predictions)
    assert (document["model"], document["kind"], document["classes"]) == (
        MODEL_NAME,
        "feature_mlp",
        list(CLASSES),
    )
    assert (
        document["feature_service"] == card.feature_service
        and document["training_data"] == card.training_partition
    )

    assert set(evaluation["per_class"]) == set(CLASSES)
    for values in evaluation["per_class"].values():
        for key in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
            assert 0.0 <= values[key] <= 1.0, key
    assert sum(v["support"] for v in evaluation["per_class"].values()) == n
    # Recomputed from the stored predictions: the figures training put on the card.
    assert evaluation["macro_roc_auc"] == pytest.approx(card.metrics["validation_roc_auc"], abs=1e-9)
    for key in ("weighted_f1", "macro_f1", "accuracy"):
        assert evaluation[key] == pytest.approx(card.metrics[f"test_{key}"], abs=1e-9)

    assert 0.0 <= evaluation["expected_calibration_error"] <= 1.0
    assert sum(point["n"] for point in evaluation["reliability"]) == n
    matrix = np.asarray(evaluation["confusion_matrix"])
    assert matrix.shape == (2, 2) and matrix.sum() == n
    assert matrix.sum(axis=1).tolist() == [int(evaluation["per_class"][c]["support"]) for c in CLASSES]

    assert set(evaluation["slices"]) == set(SLICES)
    for dimension, column in zip(SLICES, ("content_type", "language", "creator_size_band"), strict=True):
        slices = evaluation["slices"][dimension]
        assert sum(s["n"] for s in slices.values()) == n, dimension
        assert {name: s["n"] for name, s in slices.items()} == predictions[column].value_counts().to_dict()
        for name, s in slices.items():
            both_classes = predictions.loc[predictions[column] == name, "label"].nunique() == 2
            assert (s["roc_auc"] is not None) == both_classes, (dimension, name)
    bands = list(evaluation["slices"]["creator size band"])
    order = [name for _, _, name in CREATOR_SIZE_BANDS] + [UNKNOWN]
    assert bands == sorted(bands, key=order.index)
    assert "policy" not in evaluation  # the engagement model only scores
    assert document["comparison"] is None


def test_the_html_card_embeds_its_plots(report: ModelCardReport) -> None:
    page = report.html_path.read_text()
    assert page.count('<img alt="') == 2  # confusion matrix and reliability curve
    assert page.count('src="data:image/png;base64,') == 2
    for heading in ("<th>content type</th>", "<th>language</th>", "<th>creator size band</th>"):
        assert heading in page
    assert "features of ranking_v1" in page and "No decision policy" in page


def test_the_card_renders_in_a_real_browser(report: ModelCardReport) -> None:
    def inspect(page: Any) -> None:
        assert page.locator("h1").inner_text() == f"Model card: {MODEL_NAME} {report.card['version']}"
        assert page.locator("img").count() == 2
        for slice_name in SLICES:
            assert page.locator("th", has_text=slice_name).count() >= 1

    check_report_page(report.html_path, SCREENSHOT, inspect)


def _inverted(predictions: pd.DataFrame) -> pd.DataFrame:
    """The same items with the score reversed: a model that ranks them the wrong way round."""
    worse = predictions.copy()
    worse[PROBABILITIES] = predictions[PROBABILITIES[::-1]].to_numpy()
    return worse


def test_promote_refuses_a_worse_engagement_version_and_the_card_compares_them(
    pipeline: Pipeline, trained: tuple[ModelCard, pd.DataFrame], tmp_path: Path
) -> None:
    """v2 has the same network but reversed held-out scores, its card metrics computed from them as
    training computes them: the configured gates refuse it, through the API and the CLI."""
    card, predictions = trained
    assert card.metrics["validation_roc_auc"] > 0.5, "the fixture's model learned nothing to invert"
    _, network = load_model(pipeline.layout.model_dir(MODEL_NAME) / card.version)
    root = tmp_path / "models" / MODEL_NAME
    worse = _inverted(predictions)
    worse_metrics = held_out_metrics(worse["label"].to_numpy(), worse[PROBABILITIES].to_numpy())
    for version, held_out, metrics in (("v1", predictions, card.metrics), ("v2", worse, worse_metrics)):
        extra = {TEST_PREDICTIONS_FILE: held_out.to_parquet(index=False)}
        save_model(root, replace(card, version=version, metrics=card.metrics | metrics), network, extra)

    gates = pipeline.config.models.promotion_gates
    promote(root, "v1", gates)
    with pytest.raises(
        SignalsError, match=r"refusing to promote engagement v2 over v1: .*validation_roc_auc: .*FAILS"
    ):
        promote(root, "v2", gates)
    assert promoted_version(root) == "v1"
    refused = subprocess.run(
        [SIGNALS, "--data-dir", str(tmp_path), "promote", MODEL_NAME, "v2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0 and "refusing to promote engagement v2 over v1" in refused.stderr

    compared = build_model_card(tmp_path / "models", tmp_path / "cards", MODEL_NAME, "v2").card["comparison"]
    assert (compared["promoted_version"], compared["comparable"]) == ("v1", True)
    auc = compared["metrics"]["macro_roc_auc"]
    assert auc["delta"] == pytest.approx(
        worse_metrics["validation_roc_auc"] - card.metrics["validation_roc_auc"]
    )
    assert auc["delta"] < 0


def test_a_version_trained_before_cards_is_named_not_crashed_on(
    trained: tuple[ModelCard, pd.DataFrame], pipeline: Pipeline, tmp_path: Path
) -> None:
    """Engagement versions stored before this card existed have no classes and no predictions."""
    card, predictions = trained
    _, network = load_model(pipeline.layout.model_dir(MODEL_NAME) / card.version)
    root = tmp_path / "models" / MODEL_NAME
    legacy = {"validation_roc_auc": card.metrics["validation_roc_auc"] - 0.01}
    save_model(root, replace(card, version="v1", classes=[], evaluation={}, metrics=legacy), network)
    extra = {TEST_PREDICTIONS_FILE: predictions.to_parquet(index=False)}
    save_model(root, replace(card, version="v2"), network, extra)
    with pytest.raises(SignalsError, match="v1 names no classes"):
        build_model_card(tmp_path / "models", tmp_path / "cards", MODEL_NAME, "v1")
    promote(root, "v1", {"validation_roc_auc": 0.0})
    compared = build_model_card(tmp_path / "models", tmp_path / "cards", MODEL_NAME, "v2").card["comparison"]
    assert compared["metrics"] == {} and "v1 has no held-out predictions" in compared["note"]
    record = promote(root, "v2", pipeline.config.models.promotion_gates)  # compared on what both report
    assert [c.split(":")[0] for c in record.checks] == ["validation_roc_auc"]
