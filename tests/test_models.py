from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from content_signals.config import TeamAccess
from content_signals.definitions import Decision
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models.networks import EngagementNet, ModelCard, load_model, save_model
from content_signals.models.registry import latest_version, next_version
from content_signals.serving.app import model_gpus
from content_signals.serving.auth import Authorizer
from content_signals.serving.catalog import FeatureSpec, ValueType
from content_signals.serving.data_plane import FeatureColumn, FeatureResult
from content_signals.serving.decoding import NOT_FOUND, NULL_VALUE, OUTSIDE_MAX_AGE, PRESENT
from content_signals.serving.errors import InvalidRequest, NotFound, PermissionDenied, Unavailable
from content_signals.serving.scoring import (
    choose_model,
    decisions,
    discover_models,
    found_items,
    model_inputs,
)
from content_signals.serving.scoring_plane import ScoreRequest, ScoringPlane

CARD = ModelCard(
    name="engagement",
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
POLICY = replace(CARD, review_threshold=0.5, block_threshold=0.9)
STAMP = int(datetime(2026, 1, 8, tzinfo=UTC).timestamp() * 1_000_000)


def _column(view: str, name: str, kind: ValueType, values: Any, statuses: list[int]) -> FeatureColumn:
    status = np.array(statuses, dtype=np.int32)
    return FeatureColumn(
        spec=FeatureSpec(view, name, kind, ttl_seconds=86_400),
        values=values,
        statuses=status,
        micros=np.where(status == NOT_FOUND, 0, STAMP).astype(np.int64),
    )


def test_weights_round_trip_through_safetensors_without_pickle(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = EngagementNet(2, [4])
    save_model(tmp_path, CARD, network)
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == ["model.json", "model.safetensors"]
    card, loaded = load_model(tmp_path / "v1")
    assert card == CARD
    inputs = torch.randn(5, 2)
    assert torch.equal(network(inputs), loaded(inputs))
    assert next_version(tmp_path) == "v2" and latest_version(tmp_path) == "v1"


def test_missing_features_are_imputed_with_the_training_mean_and_counted() -> None:
    # Rows: x has both inputs; y is unknown (NOT_FOUND); z has a stored null for a and a stale b
    # (OUTSIDE_MAX_AGE, whose value is still in the array and must not be used); w has a real 0
    # for a (the type's default, PRESENT) and a stored null for b.
    features = FeatureResult(
        feature_service="ranking_v1",
        version="ranking_v1@00000000",
        content_ids=["x", "y", "z", "w"],
        columns=[
            _column("engagement", "b", ValueType.DOUBLE, np.array([1.0, 0.0, 99.0, 0.0]),
                    [PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE, NULL_VALUE]),
            _column("metadata", "label", ValueType.STRING, ["s", "", "t", "u"],
                    [PRESENT, NOT_FOUND, PRESENT, PRESENT]),
            _column("metadata", "a", ValueType.INT64, np.array([14, 0, 0, 0], dtype=np.int64),
                    [PRESENT, NOT_FOUND, NULL_VALUE, PRESENT]),
        ],
    )  # fmt: skip
    inputs, missing = model_inputs(CARD, features)
    np.testing.assert_allclose(inputs, [[2.0, 1.0], [0.0, 0.0], [0.0, 0.0], [-5.0, 0.0]])
    assert inputs.dtype == np.float32
    assert missing == [0, 2, 2, 1]
    # Only NOT_FOUND in every stored view means the item is unknown; a null or stale row exists.
    assert found_items(features) == [True, False, True, True]

    # A card may name its inputs by reference ("view:feature") as well as by name.
    by_ref = replace(CARD, features=["metadata:a", "engagement:b"])
    np.testing.assert_array_equal(model_inputs(by_ref, features)[0], inputs)


def test_a_model_input_the_service_does_not_serve_is_an_error() -> None:
    features = FeatureResult(
        "ranking_v1",
        "ranking_v1@00000000",
        ["x"],
        [_column("metadata", "a", ValueType.INT64, np.array([1]), [PRESENT])],
    )
    with pytest.raises(SignalsError, match="b"):
        model_inputs(CARD, features)


def test_request_time_features_do_not_make_an_item_found() -> None:
    computed = _column(
        "upload_text_features", "upload_title_length", ValueType.INT64, np.array([3]), [PRESENT]
    )
    computed = replace(computed, spec=replace(computed.spec, ttl_seconds=0, request_time=True))
    stored = _column("creator_profile", "catalogue_size", ValueType.INT64, np.array([0]), [NOT_FOUND])
    assert found_items(FeatureResult("upload_safety_v1", "v", ["upload-1"], [computed, stored])) == [False]


def test_decisions_follow_the_thresholds_and_a_score_at_a_threshold_goes_up() -> None:
    scores = np.array([0.0, 0.4999, 0.5, 0.8999, 0.9, 1.0])
    chosen, thresholds = decisions(POLICY, scores)
    assert chosen == [Decision.ALLOW, Decision.ALLOW, Decision.REVIEW, Decision.REVIEW, Decision.BLOCK,
                      Decision.BLOCK]  # fmt: skip
    # ALLOW reports the review threshold it stayed under; REVIEW and BLOCK the one they reached.
    assert thresholds == [0.5, 0.5, 0.5, 0.5, 0.9, 0.9]
    # The network's scores are float32: a float32 score equal to a threshold reaches it too.
    chosen, _ = decisions(POLICY, np.array([0.5, 0.9], dtype=np.float32))
    assert chosen == [Decision.REVIEW, Decision.BLOCK]

    # Equal thresholds are allowed: no REVIEW band, a score at the threshold is blocked.
    strict = replace(CARD, review_threshold=0.7, block_threshold=0.7)
    assert decisions(strict, np.array([0.69, 0.7]))[0] == [Decision.ALLOW, Decision.BLOCK]


def test_a_model_without_a_policy_has_no_decisions() -> None:
    assert decisions(CARD, np.array([0.1, 0.95])) == ([Decision.UNSPECIFIED] * 2, [0.0, 0.0])


@pytest.mark.parametrize(
    ("review", "block"),
    [(0.9, 0.5), (0.5, None), (None, 0.9), (-0.1, 0.5), (0.5, 1.5)],
)
def test_a_model_card_refuses_inconsistent_thresholds(review: float | None, block: float | None) -> None:
    with pytest.raises(SignalsError, match="threshold"):
        replace(CARD, review_threshold=review, block_threshold=block)


def test_discovered_models_serve_the_latest_version_unless_one_is_named(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    root = layout.model_dir("engagement")
    # v10 must beat v2: versions compare as numbers, not strings.
    for version in ("v1", "v2", "v10"):
        save_model(root, replace(CARD, version=version), EngagementNet(2, [4]))
    (root / "v11").mkdir()  # incomplete (no card): never served
    (root / ".v12.tmp").mkdir()  # a save in progress
    save_model(layout.model_dir("safety"), replace(POLICY, name="safety"), EngagementNet(2, [4]))

    models = discover_models(layout)
    assert sorted(models) == ["engagement", "safety"]
    assert sorted(models["engagement"].versions) == ["v1", "v10", "v2"]
    latest = choose_model(models, "engagement")
    assert latest.card.version == "v10" and latest.path == root / "v10"
    assert choose_model(models, "engagement", "v2").card == replace(CARD, version="v2")
    assert choose_model(models, "safety").card.review_threshold == 0.5

    with pytest.raises(NotFound, match=r"versions: v1, v2, v10\)"):
        choose_model(models, "engagement", "v3")
    with pytest.raises(NotFound, match="v11"):
        choose_model(models, "engagement", "v11")
    with pytest.raises(NotFound, match="nope"):
        choose_model(models, "nope")
    with pytest.raises(InvalidRequest):
        choose_model(models, "")
    assert discover_models(DataLayout(tmp_path / "empty")) == {}


def test_a_gpu_request_on_a_cluster_without_gpus_falls_back_to_cpu() -> None:
    with pytest.warns(RuntimeWarning, match="run on CPU"):
        assert model_gpus(1.0, 0.0) == 0.0
    assert model_gpus(1.0, 2.0) == 1.0
    assert model_gpus(0.0, 0.0) == 0.0


class _Features:
    """The data plane's part in Score: ``a`` and ``b`` for every id; ``gone`` is not in the store."""

    max_entities = 50

    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def read(self, request: Any) -> FeatureResult:
        self.requests.append(request)
        ids = list(request.content_ids)
        status = [NOT_FOUND if cid == "gone" else PRESENT for cid in ids]
        return FeatureResult(
            request.feature_service,
            "ranking_v1@00000000",
            ids,
            [
                _column("metadata", "a", ValueType.INT64, np.array([10] * len(ids)), status),
                _column("engagement", "b", ValueType.DOUBLE, np.array([0.5] * len(ids)), status),
            ],
        )


class _Runner:
    """Scores each item it is given by its position: 0.2, 0.6, 0.95, ..."""

    def __init__(self) -> None:
        self.inputs: list[Any] = []

    async def predict(self, model: str, version: str, inputs: Sequence[Any]) -> tuple[np.ndarray, int]:
        self.inputs.append(inputs)
        return np.array([0.2, 0.6, 0.95][: len(inputs)], dtype=np.float32), 7


def test_the_scoring_plane_chooses_authorises_scores_and_decides(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    for version in ("v1", "v2"):
        save_model(layout.model_dir("engagement"), replace(CARD, version=version), EngagementNet(2, [4]))
    save_model(layout.model_dir("safety"), replace(POLICY, name="safety"), EngagementNet(2, [4]))
    teams = {
        "ranking": TeamAccess(token="ranking-token-0123456789", models=["engagement"]),
        "admin": TeamAccess(token="admin-token-0123456789", models=["*"]),
    }
    features, runner = _Features(), _Runner()
    plane = ScoringPlane(discover_models(layout), features, runner, Authorizer(teams))  # type: ignore[arg-type]

    ids = ["x", "gone", "y", "z"]
    result = asyncio.run(plane.score(ScoreRequest("safety", ids), "admin"))
    assert (result.model, result.model_version, result.content_ids) == ("safety", "v1", ids)
    # "gone" has no row in any view and the request no inputs: no score, no decision, and the
    # network never sees it (a score from the training means alone would be made up).
    assert len(runner.inputs[-1]) == 3
    assert result.scores[0] == pytest.approx(0.2) and math.isnan(result.scores[1])
    assert result.scores[2:] == pytest.approx([0.6, 0.95])
    assert result.decisions == [Decision.ALLOW, Decision.UNSPECIFIED, Decision.REVIEW, Decision.BLOCK]
    assert result.decision_thresholds == [0.5, 0.0, 0.5, 0.9]
    assert result.found == [True, False, True, True] and result.missing_features == [0, 2, 0, 0]
    assert result.policy == POLICY.decision_thresholds and result.batch_items == 7
    assert features.requests[-1].feature_service == "ranking_v1"
    # Only unknown items: nothing to run at all.
    unknown = asyncio.run(plane.score(ScoreRequest("safety", ["gone"]), "admin"))
    assert math.isnan(unknown.scores[0]) and unknown.decisions == [Decision.UNSPECIFIED]
    assert unknown.batch_items == 0 and len(runner.inputs) == 1
    # An upload: not in the store, but scored on what the request brings.
    upload = asyncio.run(
        plane.score(ScoreRequest("safety", ["gone"], request_inputs={"upload_title": ["t"]}), "admin")
    )
    assert upload.found == [False] and upload.scores == pytest.approx([0.2])
    assert upload.decisions == [Decision.ALLOW]

    plain = asyncio.run(plane.score(ScoreRequest("engagement", ["x"], model_version="v1"), "ranking"))
    assert plain.model_version == "v1" and plain.policy is None
    assert plain.decisions == [Decision.UNSPECIFIED] and plain.decision_thresholds == [0.0]

    with pytest.raises(PermissionDenied, match="safety"):
        asyncio.run(plane.score(ScoreRequest("safety", ["x"]), "ranking"))
    with pytest.raises(NotFound, match="v3"):
        asyncio.run(plane.score(ScoreRequest("engagement", ["x"], model_version="v3"), "admin"))
    plane.runner = None
    with pytest.raises(Unavailable):
        asyncio.run(plane.score(ScoreRequest("engagement", ["x"]), "admin"))

    assert [m.name for m in plane.list_models("ranking")] == ["engagement"]
    engagement, safety = plane.list_models(None)
    assert (engagement.default_version, engagement.versions, engagement.policy) == ("v2", ["v1", "v2"], None)
    assert safety.policy == POLICY.decision_thresholds and safety.feature_service == "ranking_v1"
