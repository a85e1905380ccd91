"""Per-category decisions end to end: ``decide_version`` (the one entry point of the daily job, Score
and the review export), Score's category scores, decision category and reason, and ListModels'
categories and rules, through a real gRPC client against the serving code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from content_signals_client import CategoryRule as ClientRule
from content_signals_client import SignalsClient

from content_signals.config import PlatformConfig, TextEncoderConfig
from content_signals.layout import DataLayout
from content_signals.models.decisions import (
    DecisionThresholds,
    decide,
    decide_by_category,
    decide_version,
)
from content_signals.models.networks import TextClassifierHead, save_model
from content_signals.models.policy import CategoryRule, SafetyPolicy, write_policy
from content_signals.models.text_encoder import shared_encoder
from content_signals.models.text_features import NgramFeatures
from content_signals.serving.scoring import discover_models
from tests.cards import safety_card
from tests.local_server import ServerThread

CLASSES = ["hate", "offensive", "neither"]
TEXTS = [
    "you are all wonderful people",
    "this fucking song slaps",
    "i hate every one of them and they should leave",
    "episode 4: gardening in the rain",
    "shit happens (radio edit)",
    "get out of my country",
]


def _policy(hate_block: float, hate_review: float, offensive_review: float) -> SafetyPolicy:
    return SafetyPolicy(
        categories=["hate", "offensive", "none"],
        rules=[
            CategoryRule(category="hate", block_at=hate_block, review_at=hate_review),
            CategoryRule(
                category="offensive",
                review_at=offensive_review,
                review_only_if_not_explicit=True,
                explicit_at=0.3,
            ),
        ],
    )


def test_decide_version_follows_the_versions_policy() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.05, 0.05, 0.9], [np.nan] * 3])
    thresholds = DecisionThresholds(review=0.5, block=0.85)
    # Without a per-category policy: the single-score rule on 1 - P(neither), as before.
    legacy = decide_version(probabilities, CLASSES, None, thresholds)
    plain = decide(1.0 - probabilities[:, 2], thresholds)
    assert legacy.decisions.tolist() == plain.decisions.tolist()
    np.testing.assert_allclose(legacy.thresholds, plain.thresholds)
    assert legacy.categories == ["unsafe", "unsafe", "", ""]
    assert legacy.reasons() == [
        "block: unsafe >= 0.850",
        "review: unsafe >= 0.500",
        "allow: unsafe < 0.500",
        "unspecified",
    ]
    # With one, per category; the "neither" class is the policy's "none".
    policy = _policy(0.6, 0.3, 0.5)
    by_category = decide_version(probabilities, CLASSES, policy, thresholds, [None, False, None, None])
    expected = decide_by_category(
        probabilities, ["hate", "offensive", "none"], policy, [None, False, None, None]
    )
    assert by_category.labels() == expected.labels() == ["block", "review", "allow", "unspecified"]
    assert by_category.categories == ["hate", "offensive", "", ""]
    assert by_category.explicit_suggested.tolist() == [False, True, False, False]
    # A policy written with the model's own class names ("neither") decides the same.
    named_as_classes = policy.model_copy(update={"categories": CLASSES})
    same = decide_version(probabilities, CLASSES, named_as_classes, thresholds, [None, False, None, None])
    assert same.labels() == by_category.labels() and same.categories == by_category.categories


@pytest.fixture(scope="module")
def served(platform_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """v1: single-score thresholds only; v2 (the default, newest): a per-category policy."""
    data_dir = tmp_path_factory.mktemp("category-data")
    config = platform_config.model_copy(
        update={
            "data_dir": data_dir,
            "feast": platform_config.feast.model_copy(update={"project": f"cs_cat_{uuid.uuid4().hex[:8]}"}),
            "serving": platform_config.serving.model_copy(update={"host": "127.0.0.1"}),
        }
    )
    root = DataLayout(data_dir).model_dir("safety")
    encoder = shared_encoder(TextEncoderConfig(device="cpu"))
    ngrams = NgramFeatures.fit(TEXTS)
    for version, seed in (("v1", 0), ("v2", 1)):
        torch.manual_seed(seed)
        head = TextClassifierHead(encoder.dimension, [8], len(CLASSES), ngrams.size)
        head.ngrams = ngrams
        card = safety_card(
            version,
            hidden_units=[8],
            training_partition="hand-built",
            classes=CLASSES,
            text_encoder={"name": encoder.info.name, "dimension": encoder.dimension,
                          "weights_sha256": encoder.info.weights_sha256},
            review_threshold=0.5,
            block_threshold=0.8,
            ngram_features=ngrams.size,
        )  # fmt: skip
        save_model(root, card, head, extra_files=ngrams.files())
    write_policy(root / "v2", _policy(0.45, 0.34, 0.4))
    models = discover_models(DataLayout(data_dir))
    assert (
        models["safety"].versions["v2"].policy is not None and models["safety"].versions["v1"].policy is None
    )
    server = ServerThread(config, models=models)
    yield server
    server.stop()


def test_score_returns_categories_and_the_decisions_reason(served: Any) -> None:
    ids = [f"u{i}" for i in range(len(TEXTS))]
    with SignalsClient(served.target, timeout_s=30.0) as client:
        scores = client.score("safety", ids, request_inputs={"text": TEXTS})
        assert scores.model_version == "v2"
        details = scores.categories()
        probabilities = np.array(
            [[d["category_scores"][c] for c in ("hate", "offensive", "none")] for d in details]
        )
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
        # The score is still the unsafe probability; the decision is the policy's on the categories.
        np.testing.assert_allclose(
            [r["score"] for r in scores.to_dicts()], 1.0 - probabilities[:, 2], atol=1e-6
        )
        expected = decide_by_category(probabilities, ["hate", "offensive", "none"], _policy(0.45, 0.34, 0.4))
        assert [r["decision"] for r in scores.to_dicts()] == [label.upper() for label in expected.labels()]
        assert [d["decision_reason"] for d in details] == expected.reasons()
        assert [d["decision_category"] for d in details] == [c or None for c in expected.categories]
        assert [d["explicit_suggested"] for d in details] == expected.explicit_suggested.tolist()
        assert scores.category_rules == [
            ClientRule("hate", 0.45, 0.34, False, None),
            ClientRule("offensive", None, 0.4, True, 0.3),
        ]
        # The older version decides on the single score and says so.
        legacy = client.score("safety", ids, model_version="v1", request_inputs={"text": TEXTS})
        assert legacy.category_rules == [] and legacy.policy == (0.5, 0.8)
        reasons = [d["decision_reason"] for d in legacy.categories()]
        for reason, row in zip(reasons, legacy.to_dicts(), strict=True):
            assert reason.startswith(row["decision"].lower())
            assert ("unsafe" in reason) == (row["decision"] != "UNSPECIFIED")


def test_list_models_describes_categories_and_rules(served: Any) -> None:
    with SignalsClient(served.target, timeout_s=30.0) as client:
        [model] = [m for m in client.list_models() if m.name == "safety"]
    assert model.version == "v2" and list(model.categories) == ["hate", "offensive", "none"]
    assert [r.category for r in model.policy.rules] == ["hate", "offensive"]
    assert model.policy.rules[0].block_at == pytest.approx(0.45) and not model.policy.rules[1].HasField(
        "block_at"
    )
    assert (model.policy.review_threshold, model.policy.block_threshold) == (0.5, 0.8)
