"""The ``content_safety`` job: the safety model's view of each item's text, every day.

The job applies the safety model's head (:mod:`content_signals.models.batch_scoring`) to the same
day's ``content_embedding`` partition, so text is encoded once per platform run, not once per
model; the model's version decides on each item with its own thresholds.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_EMBEDDING, CONTENT_SAFETY
from content_signals.errors import SignalsError
from content_signals.jobs.inputs import Catalogue, PartitionDate, SameDayPartition
from content_signals.jobs.model_inputs import TextClassifierModel
from content_signals.jobs.signal_job import SignalJob
from content_signals.models.batch_scoring import (
    ClassifierVersion,
    classify_embeddings,
    decision_column,
    spread_over_cores,
    text_column,
    text_fingerprint,
)
from content_signals.models.networks import ModelCard

REQUIRED_CLASSES = ("hate", "offensive", "neither")


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


def base(content: DataFrame, embeddings: DataFrame, model: ClassifierVersion, day: date) -> DataFrame:
    """One row per item: ``p_<class>``, the decision its version's thresholds give, and the version.

    Refuses (before scoring) embeddings that do not match the model's encoder or today's text.
    """
    card = model.card
    check_same_encoder(content, embeddings, card, day)
    if card.review_threshold is None or card.block_threshold is None:
        raise SignalsError(f"{card.name} {card.version} has no decision thresholds")
    items = content.select("content_id", text_column().alias("text")).join(
        embeddings.select("content_id", "text_embedding"), "content_id"
    )
    return classify_embeddings(spread_over_cores(items), model.path).select(
        "content_id",
        *[f"p_{c}" for c in REQUIRED_CLASSES],
        decision_column(1.0 - F.col("p_neither"), card.decision_thresholds).alias("safety_decision"),
        F.lit(card.version).alias("model_version"),
    )


JOB = SignalJob(
    CONTENT_SAFETY,
    inputs=(Catalogue(), SameDayPartition(CONTENT_EMBEDDING.name, name="embeddings"), PartitionDate()),
    transform=base,
    # Its default version (promoted, else newest) scores each day.
    model=TextClassifierModel("safety", classes=REQUIRED_CLASSES),
)
