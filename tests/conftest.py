"""Session-scoped engines and one small end-to-end pipeline shared by the slower tests.

Spark starts once per session; the pipeline (generate → job → gate → publish → train) runs once into
a temporary data directory; Ray Serve starts once, on a free port, for the gRPC tests.

Whether a test is ``slow`` follows from the fixtures it needs (``SLOW_FIXTURES``), so a new test over
the pipeline is marked without anyone remembering to: ``pytest -m "not slow"`` runs in a few minutes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from content_signals.cli.main import prepare_process
from content_signals.config import PlatformConfig, load_config
from content_signals.layout import DataLayout

START = date(2026, 1, 1)
FEATURE_DAY = START + timedelta(days=6)
PREVIOUS_DAY = FEATURE_DAY - timedelta(days=1)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DAVIDSON = SHARED_DATA / "text" / "davidson_labeled.csv"


# The fixtures that make every test using them, directly or through another fixture, slow: each costs
# from tens of seconds to minutes the first time a session asks for it. A plain name is a conftest
# fixture; ``module::name`` is a fixture of that test module only (names like ``trained`` are reused).
SLOW_FIXTURES: dict[str, str] = {
    "pipeline": "generates data, runs every job through the gate for two days, publishes, trains both models",
    "server": "starts Ray Serve (and needs the pipeline)",
    "test_safety_model.py::trained": "trains the safety model (text encoder over 900 texts, 15 epochs)",
    "test_safety_training.py::trained": "trains the safety model on three corpora (300 texts each) and "
    "three cross-corpus heads, calibrated for 400 musicoset titles",
    "test_review_loop.py::setup": "trains the safety model",
    "test_text_scoring.py::safety": "trains the safety model",
    "test_bring_your_own_catalogue.py::deployment": "trains a safety model for a fresh deployment",
    "test_bring_your_own_catalogue.py::server": "imports, runs, publishes through the CLI; starts a server",
    "test_catalogue_only.py::catalogue_only": "runs five jobs through the gate on a catalogue without events",
}


def _slow_because(item: pytest.Item) -> str | None:
    """Why ``item`` is slow (the first slow fixture in its closure), or None."""
    for name in getattr(item, "fixturenames", ()):
        for key in (name, f"{item.path.name}::{name}"):
            if key in SLOW_FIXTURES:
                return key
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _slow_because(item) is not None:
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def platform_config(tmp_path_factory: pytest.TempPathFactory) -> PlatformConfig:
    data_dir = tmp_path_factory.mktemp("signals-data")
    config = load_config(
        overrides={
            "data_dir": str(data_dir),
            "spark": {"master": "local[2]", "shuffle_partitions": 2},
            # The pipeline's dates are fixed in the past (2026-01), older than every view's TTL:
            # serve them as they were rather than as OUTSIDE_MAX_AGE.
            # A quarter CPU per replica: the app's four replicas then leave half of the session's
            # two CPUs for the deployments tests start beside it (batching, the text encoder).
            "serving": {
                "grpc_port": free_port(),
                "max_entities_per_request": 50,
                "enforce_ttl": False,
                "model_num_cpus": 0.25,
                "ingress_num_cpus": 0.25,
            },
        }
    )
    prepare_process(config)
    return config


@pytest.fixture(scope="session")
def layout(platform_config: PlatformConfig) -> DataLayout:
    return DataLayout(platform_config.data_dir)


@pytest.fixture(scope="session")
def spark(platform_config: PlatformConfig):  # type: ignore[no-untyped-def]
    from content_signals.spark import spark_session

    session = spark_session(platform_config.spark)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def gate(spark):  # type: ignore[no-untyped-def]
    # After Spark: Great Expectations' Spark data source would otherwise start a session itself,
    # before prepare_process has pointed Python workers at this virtual environment.
    from content_signals.expectations.gate import QualityGate

    return QualityGate()


@dataclass(frozen=True)
class Pipeline:
    config: PlatformConfig
    layout: DataLayout
    feature_day: date
    previous_day: date


@pytest.fixture(scope="session")
def pipeline(platform_config: PlatformConfig, layout: DataLayout, spark, gate) -> Pipeline:  # type: ignore[no-untyped-def]
    """Two validated, published days of every signal table, a trained engagement model and a small
    safety model (trained first: the content_safety job scores with it)."""
    from content_signals.feature_repo.publishing import publish
    from content_signals.jobs.engagement_training import train_engagement
    from content_signals.jobs.runner import JOBS, run_many
    from content_signals.models.safety import load_labelled_texts, train_safety
    from content_signals.synthetic import GenerationSpec, write_catalogue

    spec = GenerationSpec(items=300, creators=40, days=14, events_per_day=3_000, users=500, start_date=START)
    write_catalogue(spec, layout)
    train_safety(platform_config, load_labelled_texts(DAVIDSON, limit=600), epochs=10)
    for day in (PREVIOUS_DAY, FEATURE_DAY):
        report = run_many(spark, layout, list(JOBS), [day], gate, models=platform_config.models)
        assert not report.quarantined, report.quarantined
        publish(platform_config, day)
    train_engagement(platform_config, spark, FEATURE_DAY, epochs=60)
    return Pipeline(platform_config, layout, FEATURE_DAY, PREVIOUS_DAY)


@pytest.fixture(scope="session")
def server(pipeline: Pipeline) -> Iterator[str]:
    """A running Ray Serve gRPC server over the pipeline's online store; yields its address."""
    from content_signals.serving import server as serving_server

    running = serving_server.start(pipeline.config)
    yield running.target
    serving_server.stop()
