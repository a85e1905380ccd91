"""Score on request-time text: the safety model served over gRPC and in the model replica."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from content_signals_client import SignalsClient, request_input
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc

from content_signals.config import PlatformConfig, TextEncoderConfig, load_config
from content_signals.definitions.signal_types import Decision
from content_signals.layout import DataLayout
from content_signals.models.decisions import decide_version
from content_signals.models.networks import TextClassifierHead, load_model
from content_signals.models.policy import read_policy
from content_signals.models.safety import SafetyTraining, load_labelled_texts, train_safety
from content_signals.models.text_encoder import shared_encoder
from content_signals.serving.app import ModelReplica
from content_signals.serving.scoring import discover_models
from content_signals.text import normalise_text
from tests.conftest import Pipeline
from tests.test_grpc_service import ServerThread
from tests.test_safety_model import DAVIDSON

TEXTS = [
    "what a lovely song, thank you",
    "RT @someone: you are trash and everyone hates you",
    "a calm podcast about gardening",
]
CPU = TextEncoderConfig(device="cpu")


@pytest.fixture(scope="module")
def safety(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformConfig, SafetyTraining]:
    config = load_config(
        overrides={
            "data_dir": str(tmp_path_factory.mktemp("text-scoring")),
            "models": {"text_encoder": {"device": "cpu"}},
        }
    )
    return config, train_safety(config, load_labelled_texts(DAVIDSON, limit=600), epochs=5)


def _probabilities(result: SafetyTraining, texts: list[str]) -> np.ndarray:
    """The version's class probabilities (items x classes) for ``texts``, computed locally."""
    _, head = load_model(result.path)
    normalised = [normalise_text(t) for t in texts]
    assert isinstance(head, TextClassifierHead)
    return head.probabilities(normalised, shared_encoder(CPU).encode(normalised))


def _expected(result: SafetyTraining, texts: list[str]) -> np.ndarray:
    """The unsafe score: one minus the probability of ``neither``."""
    return 1 - _probabilities(result, texts)[:, result.card.classes.index("neither")]


@pytest.fixture(scope="module")
def grpc_server(pipeline: Pipeline, safety: tuple[PlatformConfig, SafetyTraining]) -> Iterator[ServerThread]:
    config, _ = safety
    models = discover_models(DataLayout(config.data_dir))
    thread = ServerThread(pipeline.config, models=models)
    yield thread
    thread.stop()


def test_score_classifies_request_time_text_with_the_stored_policy(
    grpc_server: ServerThread, safety: tuple[PlatformConfig, SafetyTraining]
) -> None:
    _, result = safety
    card = result.card
    with SignalsClient(grpc_server.target, timeout_s=30, max_attempts=1) as client:
        scores = client.score("safety", ["u1", "u2", "u3"], request_inputs={"text": TEXTS})
        listed = {m.name: m for m in client.list_models()}
    assert scores.model_version == card.version
    assert scores.policy == (card.review_threshold, card.block_threshold)
    rows = scores.to_dicts()
    np.testing.assert_allclose([r["score"] for r in rows], _expected(result, TEXTS), atol=1e-5)
    # The version's own decision rule: its per-category policy when it stores one.
    decided = decide_version(
        _probabilities(result, TEXTS), card.classes, read_policy(result.path), card.decision_thresholds
    )
    for row, decision in zip(rows, decided.decisions, strict=True):
        assert row["decision"].endswith(Decision(decision).name)
        assert row["found"] is True and row["missing_features"] == 0
    assert "safety" in listed


@pytest.mark.parametrize(
    ("request_inputs", "message"),
    [
        (None, "set request input 'text'"),
        ({"text": ["only one"]}, "1 values for 3 content ids"),
        ({"text": [1.0, 2.0, 3.0]}, "must be string"),
        ({"text": TEXTS, "title": TEXTS}, "unexpected request input 'title'"),
    ],
)
def test_bad_text_requests_are_invalid_arguments(
    grpc_server: ServerThread, request_inputs: dict[str, Any] | None, message: str
) -> None:
    # The raw stub: the client would refuse some of these before sending them.
    request = pb.ScoreRequest(
        model="safety",
        content_ids=["u1", "u2", "u3"],
        request_inputs={name: request_input(name, values) for name, values in (request_inputs or {}).items()},
    )
    with grpc.insecure_channel(grpc_server.target) as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.ContentSignalsServiceStub(channel).Score(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


@pytest.mark.slow
def test_the_model_replica_batches_text_requests_across_callers(
    server: str, safety: tuple[PlatformConfig, SafetyTraining]
) -> None:
    """The model deployment as Serve runs it (the session's Ray, beside the served app)."""
    from ray import serve

    config, result = safety
    version = result.card.version
    deployment = serve.deployment(name="Model_safety_batching", ray_actor_options={"num_cpus": 0.1})(
        ModelReplica
    )
    # Two requests fill a batch of 2 at once; the long wait only matters if they did not arrive together.
    handle = serve.run(
        deployment.bind({version: str(result.path)}, 2, 2.0, config.models.text_encoder.model_dump_json()),
        name="text_scoring_batching",
        route_prefix=None,
    )
    texts = [normalise_text(t) for t in TEXTS]  # as the ingress sends them (serving.scoring.text_inputs)
    try:
        first = handle.predict.remote((version, texts[:2]))
        second = handle.predict.remote((version, texts[2:]))
        (first_scores, first_batch), (second_scores, second_batch) = first.result(), second.result()
    finally:
        serve.delete("text_scoring_batching")
    # The replica returns class probabilities; the ingress derives scores and decisions from them.
    np.testing.assert_allclose(
        np.concatenate([first_scores, second_scores]), _probabilities(result, TEXTS), atol=1e-5
    )
    assert first_batch == second_batch == 3  # one forward pass for both callers
