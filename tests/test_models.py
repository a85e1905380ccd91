from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from content_signals.models import ModelCard, QualityNet, latest_version, load_model, next_version, save_model
from serving.app import model_gpus
from serving.features import FeatureCell, OnlineFeatures, Status
from serving.scoring import model_inputs

CARD = ModelCard(
    name="quality",
    version="v1",
    feature_service="ranking_v1",
    features=["a", "b"],
    feature_means=[10.0, 0.5],
    feature_stds=[2.0, 0.5],
    hidden_units=[4],
    target="test",
    training_partition="2026-01-07",
    trained_at=datetime.now(UTC).isoformat(),
)


def test_weights_round_trip_through_safetensors_without_pickle(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = QualityNet(2, [4])
    save_model(tmp_path, CARD, network)
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == ["model.json", "model.safetensors"]
    card, loaded = load_model(tmp_path / "v1")
    assert card == CARD
    inputs = torch.randn(5, 2)
    assert torch.equal(network(inputs), loaded(inputs))
    assert next_version(tmp_path) == "v2" and latest_version(tmp_path) == "v1"


def test_missing_features_are_imputed_with_the_training_mean_and_counted() -> None:
    stamp = datetime(2026, 1, 8, tzinfo=UTC)
    features = OnlineFeatures(
        feature_service="ranking_v1",
        feature_names=["b", "label", "a"],
        content_ids=["x", "y"],
        rows=[
            [FeatureCell(1.0, Status.PRESENT, stamp), FeatureCell("s", Status.PRESENT, stamp),
             FeatureCell(14, Status.PRESENT, stamp)],
            [FeatureCell(None, Status.NOT_FOUND, None), FeatureCell(None, Status.NOT_FOUND, None),
             FeatureCell(None, Status.PRESENT, stamp)],
        ],
    )  # fmt: skip
    inputs, missing = model_inputs(CARD, features)
    np.testing.assert_allclose(inputs, [[2.0, 1.0], [0.0, 0.0]])
    assert inputs.dtype == np.float32
    assert missing == [0, 2]


def test_a_gpu_request_on_a_cluster_without_gpus_falls_back_to_cpu() -> None:
    with pytest.warns(RuntimeWarning, match="run on CPU"):
        assert model_gpus(1.0, 0.0) == 0.0
    assert model_gpus(1.0, 2.0) == 1.0
    assert model_gpus(0.0, 0.0) == 0.0
