"""The model-backed signal tables: ``content_embedding`` (a stored vector feature) and
``content_safety`` (the safety model over those vectors), from job to gate to online store to gRPC."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from content_signals_client import SignalsClient
from pyspark.sql import functions as F

from content_signals.definitions import (
    CONTENT_EMBEDDING,
    EMBEDDING_DIMENSION,
    SAFETY_V2_SIGNALS,
    Decision,
    Signal,
)
from content_signals.errors import SignalsError
from content_signals.jobs.runner import build_partition, check_all_inputs, get_job, run_many
from content_signals.layout import DataLayout
from content_signals.models.decisions import decide_version
from content_signals.models.networks import CARD_FILE, TextClassifierHead, load_model
from content_signals.models.policy import read_policy
from content_signals.models.registry import default_version
from content_signals.models.text_encoder import shared_encoder
from content_signals.storage_format import encode_values
from content_signals.text import normalise_text, text_of


def _catalogue(layout: DataLayout) -> dict[str, str]:
    content = pq.read_table(layout.content_path, columns=["content_id", "title", "description"]).to_pylist()
    return {r["content_id"]: text_of(r["title"], r["description"]) for r in content}


def _partition(layout: DataLayout, table: str, day):  # type: ignore[no-untyped-def]
    return pq.read_table(layout.signal_partition(table, day)).to_pandas().set_index("content_id")


def test_a_vector_signal_needs_a_dimension_and_no_scalar_rules() -> None:
    with pytest.raises(ValueError, match="positive dimension"):
        Signal("v", "float_vector", "a vector", sql="v")
    with pytest.raises(ValueError, match="scalars only"):
        Signal("v", "float_vector", "a vector", sql="v", dimension=3, min_value=0.0)
    with pytest.raises(ValueError, match="only a float_vector"):
        Signal("x", "double", "a number", sql="x", dimension=3)


def test_vectors_are_stored_as_feasts_own_float_list_values() -> None:
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    rows = [[0.25, -1.5], [], None, list(np.linspace(-1, 1, EMBEDDING_DIMENSION))]
    column = pa.array(rows, type=pa.list_(pa.float32()))
    feast_values = [None if r is None else np.asarray(r, dtype=np.float32) for r in rows]
    expected = [
        v.SerializeToString() for v in python_values_to_proto_values(feast_values, ValueType.FLOAT_LIST)
    ]
    assert encode_values("float_vector", column).to_pylist() == expected
    # A slice of a column (as record batches hand out) encodes the same rows.
    assert encode_values("float_vector", column.slice(1)).to_pylist() == expected[1:]


def test_embeddings_are_the_encoders_vectors_of_the_items_text(pipeline) -> None:  # type: ignore[no-untyped-def]
    layout, day = pipeline.layout, pipeline.feature_day
    stored = _partition(layout, "content_embedding", day)
    texts = _catalogue(layout)
    assert set(stored.index) == set(texts)
    vectors = np.stack(stored["text_embedding"].to_numpy())
    assert vectors.shape == (len(texts), EMBEDDING_DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    ids = sorted(texts)[:20]
    encoder = shared_encoder(pipeline.config.models.text_encoder)
    direct = encoder.encode([normalise_text(texts[i]) for i in ids])
    np.testing.assert_allclose(np.stack(stored.loc[ids, "text_embedding"].to_numpy()), direct, atol=1e-5)


def test_unchanged_text_reuses_the_previous_vector_and_changed_text_is_encoded(
    pipeline, spark, gate, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source, day = pipeline.layout, pipeline.feature_day
    layout = DataLayout(tmp_path / "data")
    shutil.copytree(source.catalog_dir, layout.catalog_dir)
    # Yesterday's partition, doctored: a marker vector for one item whose text does not change, so
    # finding the marker today proves the vector was reused rather than encoded again.
    previous = pq.read_table(source.signal_partition("content_embedding", day))
    frame = previous.to_pandas()
    unchanged, edited = frame["content_id"].iloc[0], frame["content_id"].iloc[1]
    marker = np.zeros(EMBEDDING_DIMENSION, np.float32)
    marker[0] = 1.0
    frame.at[0, "text_embedding"] = marker
    target = layout.signal_partition("content_embedding", day)
    target.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pandas(frame, schema=previous.schema, preserve_index=False), target / "part-0.parquet"
    )
    # Today the catalogue edits one item's title.
    content = pq.read_table(layout.content_path).to_pandas()
    content.loc[content["content_id"] == edited, "title"] = "A completely new title about gardening"
    pq.write_table(pa.Table.from_pandas(content, preserve_index=False), layout.content_path)

    next_day = day + timedelta(days=1)
    frame_today = build_partition(
        spark,
        layout,
        get_job("content_embedding"),
        next_day,
        datetime.now(UTC),
        models=pipeline.config.models,
    )
    today = frame_today.toPandas().set_index("content_id")
    np.testing.assert_array_equal(today.at[unchanged, "text_embedding"], marker)
    assert (
        today.at[edited, "embedded_text_fingerprint"]
        != frame.set_index("content_id").at[edited, "embedded_text_fingerprint"]
    )
    encoder = shared_encoder(pipeline.config.models.text_encoder)
    row = content[content["content_id"] == edited].iloc[0]
    np.testing.assert_allclose(
        today.at[edited, "text_embedding"],
        encoder.encode([normalise_text(text_of(row["title"], row["description"]))])[0],
        atol=1e-5,
    )
    assert gate.validate(frame_today, CONTENT_EMBEDDING).success


def test_the_gate_refuses_vectors_of_the_wrong_length(pipeline, spark, gate) -> None:  # type: ignore[no-untyped-def]
    frame = spark.read.parquet(
        str(pipeline.layout.signal_partition("content_embedding", pipeline.feature_day))
    )
    short = frame.withColumn(
        "text_embedding",
        F.when(
            F.col("content_id") == frame.first()["content_id"], F.slice("text_embedding", 1, 383)
        ).otherwise(F.col("text_embedding")),
    )
    assert gate.validate(frame, CONTENT_EMBEDDING).success
    result = gate.validate(short, CONTENT_EMBEDDING)
    assert not result.success
    failures = {(f.expectation, f.column) for f in result.failures}
    assert failures == {("expect_column_vector_lengths_to_equal", "text_embedding")}
    assert result.failures[0].observed == "observed 1"


def test_safety_scores_are_the_models_view_of_the_stored_embeddings(pipeline) -> None:  # type: ignore[no-untyped-def]
    layout, day = pipeline.layout, pipeline.feature_day
    model_root = layout.model_dir("safety")
    card, head = load_model(model_root / str(default_version(model_root)))
    safety = _partition(layout, "content_safety", day)
    embeddings = _partition(layout, "content_embedding", day)
    assert set(safety.index) == set(embeddings.index)
    ids = list(safety.index)
    texts = _catalogue(layout)
    assert isinstance(head, TextClassifierHead)
    probabilities = head.probabilities(
        [normalise_text(texts[i]) for i in ids], np.stack(embeddings.loc[ids, "text_embedding"].to_numpy())
    )
    neither = card.classes.index("neither")
    np.testing.assert_allclose(safety.loc[ids, "unsafe_score"], 1.0 - probabilities[:, neither], atol=1e-5)
    np.testing.assert_allclose(
        safety.loc[ids, "p_hate"], probabilities[:, card.classes.index("hate")], atol=1e-5
    )
    # The version's own decision: its per-category policy, with the catalogue's explicit flags.
    flags = pq.read_table(layout.content_path, columns=["content_id", "explicit"]).to_pandas()
    explicit = flags.set_index("content_id")["explicit"]
    decided = decide_version(
        probabilities,
        card.classes,
        read_policy(model_root / card.version),
        card.decision_thresholds,
        [None if explicit[i] is None else bool(explicit[i]) for i in ids],
    )
    assert safety.loc[ids, "safety_decision"].tolist() == [Decision(d).label for d in decided.decisions]
    assert set(safety["safety_model_version"]) == {card.version}


def test_embeddings_from_other_encoder_weights_are_refused(pipeline, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, day = pipeline.layout, pipeline.feature_day
    layout = DataLayout(tmp_path / "data")
    shutil.copytree(source.catalog_dir, layout.catalog_dir)
    shutil.copytree(
        source.signal_partition("content_embedding", day), layout.signal_partition("content_embedding", day)
    )
    model_root = source.model_dir("safety")
    version = str(default_version(model_root))
    shutil.copytree(model_root / version, layout.model_dir("safety") / version)
    card_path = layout.model_dir("safety") / version / CARD_FILE
    card_path.write_text(
        card_path.read_text().replace(
            shared_encoder(pipeline.config.models.text_encoder).info.weights_sha256, "0" * 16
        )
    )
    with pytest.raises(SignalsError, match="other encoder weights"):
        build_partition(
            spark, layout, get_job("content_safety"), day, datetime.now(UTC), models=pipeline.config.models
        )


def test_safety_needs_a_model_and_the_same_days_embeddings(pipeline, spark, gate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, day = pipeline.layout, pipeline.feature_day
    layout = DataLayout(tmp_path / "data")
    shutil.copytree(source.catalog_dir, layout.catalog_dir)
    with pytest.raises(SignalsError, match="no safety model"):
        check_all_inputs(layout, ["content_safety"], [day])
    shutil.copytree(source.models_root, layout.models_root)
    with pytest.raises(SignalsError, match="reads the content_embedding partition"):
        check_all_inputs(layout, ["content_safety"], [day])
    check_all_inputs(layout, ["content_embedding", "content_safety"], [day])  # produced first in a batch

    # Yesterday's embeddings were stored one element short: today reuses them, the gate quarantines
    # today's embeddings, and the safety job, which would read them, is not run and says why.
    previous = pq.read_table(source.signal_partition("content_embedding", day)).to_pandas()
    previous["text_embedding"] = [v[:-1] for v in previous["text_embedding"]]
    target = layout.signal_partition("content_embedding", day - timedelta(days=1))
    target.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(previous, preserve_index=False), target / "part-0.parquet")
    lines: list[str] = []
    report = run_many(spark, layout, ["content_safety", "content_embedding"], [day], gate, lines.append)
    assert report.published == []
    assert [q.split(":")[0] for q in report.quarantined] == [
        f"content_embedding {day}",
        f"content_safety {day}",
    ]
    assert "not run, its input content_embedding was quarantined" in report.quarantined[1]
    assert "expect_column_vector_lengths_to_equal" in report.quarantined[0]
    assert not layout.signal_partition("content_safety", day).exists()
    assert "NOT RUN (content_embedding quarantined)" in lines[-1]


def test_vectors_and_safety_decisions_are_served_over_grpc(pipeline, server: str) -> None:  # type: ignore[no-untyped-def]
    layout, day = pipeline.layout, pipeline.feature_day
    embeddings = _partition(layout, "content_embedding", day)
    safety = _partition(layout, "content_safety", day)
    ids = list(embeddings.index[:5])
    with SignalsClient(server) as client:
        vectors = client.get_online_features(
            [*ids, "no-such-item"], feature_service="similarity_v1"
        ).to_dicts()
        moderation = client.get_online_features(ids, feature_service="safety_v2").to_dicts()
    for row, content_id in zip(vectors, ids, strict=False):
        np.testing.assert_allclose(
            row["content_embedding:text_embedding"],
            embeddings.at[content_id, "text_embedding"],
            rtol=0,
            atol=0,
        )
    assert vectors[-1]["content_embedding:text_embedding"] is None
    for row, content_id in zip(moderation, ids, strict=True):
        assert row["content_safety:safety_decision"] == safety.at[content_id, "safety_decision"]
        assert row["content_safety:unsafe_score"] == pytest.approx(safety.at[content_id, "unsafe_score"])
    # safety_v2 serves content_safety as released; the later signals reach consumers in safety_v3.
    served = {key.split(":", 1)[1] for key in moderation[0] if key.startswith("content_safety:")}
    assert served == set(SAFETY_V2_SIGNALS)
    with SignalsClient(server) as client:
        latest = client.get_online_features(ids, feature_service="safety_v3").to_dicts()
    for row, content_id in zip(latest, ids, strict=True):
        stored = safety.loc[content_id]
        decision = row["content_safety:safety_decision"]
        assert row["content_safety:safety_decision_reason"] == stored["safety_decision_reason"]
        assert row["content_safety:safety_decision_reason"].startswith(decision)
        assert row["content_safety:blocked"] == int(decision == "block")
        assert row["content_safety:in_review"] == int(decision == "review")
        assert row["content_safety:p_none"] == pytest.approx(1.0 - stored["unsafe_score"])
        assert row["content_safety:explicit_suggested"] == bool(stored["explicit_suggested"])
