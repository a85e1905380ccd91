"""The review loop end to end: REVIEW-band export scored in Spark, label import, retraining."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from content_signals.config import PlatformConfig, load_config
from content_signals.definitions import Decision
from content_signals.errors import SignalsError
from content_signals.jobs.runner import run_many
from content_signals.layout import DataLayout
from content_signals.models.decisions import decide_version
from content_signals.models.networks import TextClassifierHead, load_model
from content_signals.models.policy import read_policy
from content_signals.models.review import (
    export_review_batch,
    import_review_labels,
    labels_dir,
    load_review_labels,
)
from content_signals.models.safety import SafetyTraining, load_labelled_texts, train_safety
from content_signals.models.text_encoder import shared_encoder
from content_signals.synthetic import GenerationSpec, write_catalogue
from content_signals.text import normalise_text, text_of
from tests.test_safety_model import DAVIDSON


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformConfig, SafetyTraining]:
    config = load_config(
        overrides={
            "data_dir": str(tmp_path_factory.mktemp("review")),
            "spark": {"master": "local[2]", "shuffle_partitions": 2},
            "models": {"text_encoder": {"device": "cpu"}},
        }
    )
    write_catalogue(
        GenerationSpec(items=150, creators=15, days=1, events_per_day=10, users=5),
        DataLayout(config.data_dir),
    )
    return config, train_safety(config, load_labelled_texts(DAVIDSON, limit=600), epochs=5)


@pytest.fixture(scope="module")
def exported(setup: tuple[PlatformConfig, SafetyTraining], spark: SparkSession) -> list[dict[str, object]]:
    config, _ = setup
    out = config.data_dir / "batches" / "review.jsonl"
    result = export_review_batch(config, spark, out)
    assert result.scored == 150
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == result.in_review_band
    return rows


def test_export_holds_exactly_the_review_band_scored_as_one_process_would(
    setup: tuple[PlatformConfig, SafetyTraining], exported: list[dict[str, object]]
) -> None:
    config, trained = setup
    card = trained.card
    content = pq.read_table(DataLayout(config.data_dir).content_path).to_pandas()
    texts = [
        normalise_text(text_of(t, d)) for t, d in zip(content["title"], content["description"], strict=True)
    ]
    embeddings = shared_encoder(config.models.text_encoder).encode(texts)
    _, head = load_model(trained.path)
    assert isinstance(head, TextClassifierHead)
    probabilities = head.probabilities(texts, embeddings)
    unsafe = 1 - probabilities[:, 2]
    assert card.review_threshold is not None and card.block_threshold is not None
    # The version's own decision: its per-category policy (with the catalogue's explicit flags)
    # when it stores one, as the daily job and Score decide.
    explicit = [None if pd.isna(v) else bool(v) for v in content["explicit"]]
    decided = decide_version(
        probabilities, card.classes, read_policy(trained.path), card.decision_thresholds, explicit
    )
    in_band = decided.decisions == Decision.REVIEW
    expected = set(content["content_id"][in_band])
    assert {row["content_id"] for row in exported} == expected
    by_id = dict(zip(content["content_id"], unsafe, strict=True))
    for row in exported:
        assert row["unsafe_score"] == pytest.approx(by_id[row["content_id"]], abs=1e-5)
        assert row["label"] == "" and row["model_version"] == card.version and row["text"]
    scores = [row["unsafe_score"] for row in exported]
    assert scores == sorted(scores, reverse=True)  # riskiest first


def test_labels_round_trip_and_respect_their_review_time(
    setup: tuple[PlatformConfig, SafetyTraining], exported: list[dict[str, object]], tmp_path: Path
) -> None:
    config, _ = setup
    if len(exported) < 3:
        pytest.skip("the review band of this slice model holds fewer than 3 items")
    layout = DataLayout(config.data_dir)
    first = [
        dict(row, label=label, reviewer="ana", reviewed_at="2026-11-20T10:00:00Z")
        for row, label in zip(exported[:3], ["neither", "offensive", "hate"], strict=True)
    ]
    batch = tmp_path / "labelled.jsonl"
    batch.write_text("\n".join(json.dumps(r) for r in [*first, *exported[3:]]) + "\n")
    result = import_review_labels(config, batch)
    assert (result.labelled, result.skipped_unlabelled) == (3, len(exported) - 3)

    # A later batch relabels one item: the newest review wins, unless training stops before it.
    relabel = tmp_path / "relabel.csv"
    relabel.write_text(
        f"content_id,text,label,reviewed_at\n{exported[0]['content_id']},{exported[0]['text']},hate,2026-11-22T08:00:00Z\n"
    )
    import_review_labels(config, relabel)
    labels = load_review_labels(layout)
    assert sorted(labels.labels.tolist()) == [0, 0, 1]
    before = load_review_labels(layout, until=datetime(2026, 11, 21, tzinfo=UTC))
    assert sorted(before.labels.tolist()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("content_id,text,label\nc1,hi,spam\n", "unknown label"),
        ("content_id,text\nc1,hi\n", "lacks column"),
        ("content_id,text,label\nc1,hi,\n", "no labelled rows"),
        ("content_id,text,label\nc1,hi,hate\nc1,hi,neither\n", "more than once"),
        (
            "content_id,text,label,reviewed_at\nc1,hi,hate,2026-11-20T10:00:00Z\nc2,yo,hate,yesterday\n",
            r"reviewed_at must be ISO-8601 timestamps \(rows \[3\]\)",
        ),
    ],
)
def test_an_invalid_batch_writes_nothing(
    setup: tuple[PlatformConfig, SafetyTraining], tmp_path: Path, content: str, message: str
) -> None:
    config, _ = setup
    existing = sorted(labels_dir(DataLayout(config.data_dir), "safety").glob("*.parquet"))
    batch = tmp_path / "bad.csv"
    batch.write_text(content)
    with pytest.raises(SignalsError, match=message):
        import_review_labels(config, batch)
    assert sorted(labels_dir(DataLayout(config.data_dir), "safety").glob("*.parquet")) == existing


def test_the_next_training_run_uses_review_labels_but_keeps_the_test_split(
    setup: tuple[PlatformConfig, SafetyTraining],
) -> None:
    config, first = setup
    extra = load_review_labels(DataLayout(config.data_dir))
    retrained = train_safety(config, load_labelled_texts(DAVIDSON, limit=600), epochs=2, review_labels=extra)
    assert retrained.card.metrics["review_label_rows"] == len(extra.texts)
    assert retrained.card.metrics["training_rows"] == first.card.metrics["training_rows"] + len(extra.texts)
    assert (
        retrained.card.evaluation["test_split_fingerprint"] == first.card.evaluation["test_split_fingerprint"]
    )
    assert sum(map(sum, retrained.confusion)) == sum(map(sum, first.confusion))
    if extra.texts:
        assert "review labels" in retrained.card.training_partition


def test_export_refuses_an_unknown_format(
    setup: tuple[PlatformConfig, SafetyTraining], spark: SparkSession
) -> None:
    config, _ = setup
    with pytest.raises(SignalsError, match=r"\.jsonl or \.csv"):
        export_review_batch(config, spark, config.data_dir / "batch.xlsx")


def test_export_reads_the_published_daily_scores_of_the_served_version(
    setup: tuple[PlatformConfig, SafetyTraining], spark: SparkSession, gate, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Once content_safety is published by the served version, export reads it instead of scoring
    the catalogue again, and exports the same items with the same scores."""
    config, _ = setup
    source = DataLayout(config.data_dir)
    copy = config.model_copy(update={"data_dir": tmp_path / "data"})
    layout = DataLayout(copy.data_dir)
    shutil.copytree(source.catalog_dir, layout.catalog_dir)
    shutil.copytree(source.models_root, layout.models_root)

    scored_now = export_review_batch(copy, spark, tmp_path / "now.jsonl")
    assert scored_now.source.startswith("scored the catalogue now")
    report = run_many(
        spark, layout, ["content_embedding", "content_safety"], [date(2026, 1, 1)], gate, models=copy.models
    )
    assert not report.quarantined, report.quarantined
    published = export_review_batch(copy, spark, tmp_path / "published.jsonl")
    assert published.source == "published content_safety partition 2026-01-01"
    assert published.scored == scored_now.scored and published.model_version == scored_now.model_version

    def rows(path: Path) -> dict[str, float]:
        return {r["content_id"]: r["unsafe_score"] for r in map(json.loads, path.read_text().splitlines())}

    now, daily = rows(tmp_path / "now.jsonl"), rows(tmp_path / "published.jsonl")
    # The same items with the same scores, each batch riskiest first. The two paths embed in
    # different batch shapes, so scores may differ in the last float bits and near-ties may swap.
    assert daily == pytest.approx(now, abs=1e-5)
    for batch in (now, daily):
        scores = list(batch.values())
        assert scores == sorted(scores, reverse=True)
