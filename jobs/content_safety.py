"""Safety scores for catalogue items in Spark: the text classifier over each item's text.

The daily ``content_safety`` job (:func:`build`) applies the safety model's head to the same day's
``content_embedding`` partition, so text is encoded once per platform run, not once per model.
:func:`score_content` encodes and classifies in one go, for text that has no stored embedding.

Both classify with :func:`classify_embeddings`: each Python worker loads the model version once
(cached per process) and scores Arrow batches of text and embedding. The output is one probability
per class; :func:`score_content` adds the unsafe score (1 - P(neither)) that decisions are taken on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.config import ModelsConfig, TextEncoderConfig
from content_signals.definitions import CONTENT_EMBEDDING, CONTENT_SAFETY, SignalTable
from content_signals.errors import SignalsError
from content_signals.jobs.content_embedding import (
    embedding_column,
    encoder_for_spark,
    spread_over_cores,
    text_column,
    text_fingerprint,
)
from content_signals.jobs.inputs import require
from content_signals.jobs.schema import compute_partition
from content_signals.layout import DataLayout
from content_signals.models.decisions import decide
from content_signals.models.networks import ModelCard, TextClassifierHead, load_model
from content_signals.models.registry import default_version
from content_signals.models.text_encoder import check_encoder_matches, shared_encoder
from content_signals.text import normalise_text

TABLE = CONTENT_SAFETY
# The model behind the table; its default version (promoted, else newest) scores each day.
MODEL_NAME = "safety"
# The job reads this table's partition of the same day (runner: ``SignalJob.upstream``).
UPSTREAM = (CONTENT_EMBEDDING.name,)
REQUIRED_CLASSES = ("hate", "offensive", "neither")


@cache
def _classifier(model_dir: str) -> tuple[ModelCard, TextClassifierHead]:
    card, network = load_model(Path(model_dir))
    if not isinstance(network, TextClassifierHead):
        raise SignalsError(f"{card.name} {card.version} is not a text classifier")
    return card, network


def _text_classifier(model_dir: Path) -> ModelCard:
    return _classifier(str(model_dir))[0]


def score_content(content: DataFrame, model_dir: Path, encoder_config: TextEncoderConfig) -> DataFrame:
    """``content_id``, ``p_<class>`` per class and ``unsafe_score`` for every item, encoding its text
    now: the embedding transform of the ``content_embedding`` job, then :func:`classify_embeddings`."""
    card = _text_classifier(model_dir)
    check_encoder_matches(
        card.name, card.version, card.text_encoder.get("weights_sha256"), shared_encoder(encoder_config)
    )
    encoder = encoder_for_spark(content.sparkSession, encoder_config)
    items = spread_over_cores(content).select("content_id", text_column().alias("text"))
    embedded = items.withColumn("text_embedding", embedding_column(F.col("text"), encoder))
    scored = classify_embeddings(embedded, model_dir)
    return scored.select(
        "content_id", *[f"p_{c}" for c in card.classes], (1.0 - F.col("p_neither")).alias("unsafe_score")
    )


def classify_embeddings(items: DataFrame, model_dir: Path) -> DataFrame:
    """``items`` (``text`` and its ``text_embedding``) with ``p_<class>`` per class: the text is
    normalised as in training for the n-gram features; the embedding is used as it is."""
    card = _text_classifier(model_dir)
    classes = card.classes
    path = str(model_dir)
    schema = ", ".join(f"p_{c}: double" for c in classes)

    @F.pandas_udf(f"struct<{schema}>")  # type: ignore[call-overload]
    def classify(batches: Iterator[tuple[pd.Series, pd.Series]]) -> Iterator[pd.DataFrame]:
        _, head = _classifier(path)
        for texts, vectors in batches:
            normalised = [normalise_text(t) for t in texts.fillna("").tolist()]
            probabilities = head.probabilities(normalised, np.stack(vectors.to_numpy()))
            yield pd.DataFrame(
                {f"p_{c}": probabilities[:, i].astype(np.float64) for i, c in enumerate(classes)}
            )

    scored = items.withColumn("scores", classify(F.col("text"), F.col("text_embedding")))
    return scored.select(*items.columns, "scores.*")


def check_same_encoder(content: DataFrame, embeddings: DataFrame, card: ModelCard, day: date) -> None:
    """Refuse embeddings made by other encoder weights (or from other text) than the model expects.

    Each stored vector's fingerprint covers the encoder's weights digest and the text; recomputing
    it with the model card's digest from today's catalogue text must give the stored value.
    """
    digest = str(card.text_encoder.get("weights_sha256", ""))
    expected = content.select("content_id", text_fingerprint(text_column(), digest).alias("expected"))
    stored = embeddings.select("content_id", "embedded_text_fingerprint")
    joined = expected.join(stored, "content_id", "full_outer")
    wrong = joined.where(
        F.col("expected").isNull()
        | F.col("embedded_text_fingerprint").isNull()
        | (F.col("expected") != F.col("embedded_text_fingerprint"))
    )
    sample = [row["content_id"] for row in wrong.limit(3).collect()]
    if sample:
        raise SignalsError(
            f"content_embedding {day.isoformat()} does not match {card.name} {card.version}: items such "
            f"as {', '.join(sample)} were embedded from other text or by other encoder weights than "
            f"the model was trained on (weights {digest or 'unknown'}); recompute content_embedding "
            "for the day with the model's encoder"
        )


def base(content: DataFrame, embeddings: DataFrame, model_dir: Path) -> DataFrame:
    """One row per item: ``p_<class>``, the decision its version's thresholds give, and the version."""
    card = _text_classifier(model_dir)
    if card.review_threshold is None or card.block_threshold is None:
        raise SignalsError(f"{card.name} {card.version} has no decision thresholds")
    items = content.select("content_id", text_column().alias("text")).join(
        embeddings.select("content_id", "text_embedding"), "content_id"
    )
    thresholds = card.decision_thresholds

    @F.pandas_udf("string")  # type: ignore[call-overload]
    def decision(p_neither: pd.Series) -> pd.Series:
        return pd.Series(decide(1.0 - p_neither.to_numpy(), thresholds).labels())

    return classify_embeddings(spread_over_cores(items), model_dir).select(
        "content_id",
        *[f"p_{c}" for c in REQUIRED_CLASSES],
        decision(F.col("p_neither")).alias("safety_decision"),
        F.lit(card.version).alias("model_version"),
    )


def model_dir(layout: DataLayout) -> Path:
    """The safety model version the job scores with: the promoted one, else the newest."""
    root = layout.model_dir(MODEL_NAME)
    version = default_version(root) if root.exists() else None
    if version is None:
        raise SignalsError(
            f"missing input: no {MODEL_NAME} model under {root} (run `signals train safety` first)"
        )
    card = _text_classifier(root / version)
    missing = [c for c in REQUIRED_CLASSES if c not in card.classes]
    if missing:
        raise SignalsError(f"{MODEL_NAME} {version} has no class {', '.join(missing)}")
    return root / version


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    return {"content": [require(layout.content_path, "catalogue")], "model": [model_dir(layout)]}


def build(
    spark: SparkSession,
    layout: DataLayout,
    day: date,
    created_at: datetime,
    table: SignalTable = TABLE,
    models: ModelsConfig | None = None,
) -> DataFrame:
    inputs = input_paths(layout, day)
    content = spark.read.parquet(*map(str, inputs["content"]))
    embeddings_path = require(
        layout.signal_partition(CONTENT_EMBEDDING.name, day),
        f"published content_embedding partition for {day.isoformat()}",
        hint=f"run `signals jobs run content_embedding --date {day.isoformat()}` first",
    )
    embeddings = spark.read.parquet(str(embeddings_path))
    model = inputs["model"][0]
    check_same_encoder(content, embeddings, _text_classifier(model), day)
    return compute_partition(table, base(content, embeddings, model), day, created_at)
