"""The ``content_safety`` job: the safety model's view of each item's text, every day.

The job applies the safety model's head (:mod:`content_signals.models.batch_scoring`) to the same
day's ``content_embedding`` partition, so text is encoded once per platform run, not once per
model; the model's version decides on each item with its own policy (per category, with the
catalogue's explicit flag, when the version stores one; else its single-score thresholds).
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
    spread_over_cores,
    text_column,
    text_fingerprint,
    version_decision_column,
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
    """One row per item: ``p_<class>``, what its version decides (decision, the deciding
    category, the reason, whether to suggest the explicit label: by the version's per-category
    policy when it stores one, with the catalogue's explicit flag, else by its single-score
    thresholds) and the version.

    Refuses (before scoring) embeddings that do not match the model's encoder or today's text.
    """
    card = model.card
    check_same_encoder(content, embeddings, card, day)
    if card.review_threshold is None or card.block_threshold is None:
        raise SignalsError(f"{card.name} {card.version} has no decision thresholds")
    items = content.select("content_id", text_column().alias("text"), "explicit").join(
        embeddings.select("content_id", "text_embedding"), "content_id"
    )
    probabilities = [F.col(f"p_{c}") for c in card.classes]
    decided = classify_embeddings(spread_over_cores(items), model.path).withColumn(
        "decided", version_decision_column(probabilities, F.col("explicit"), model)
    )
    return decided.select(
        "content_id",
        *[f"p_{c}" for c in REQUIRED_CLASSES],
        F.col("decided.decision").alias("safety_decision"),
        F.col("decided.category").alias("decision_category"),
        F.col("decided.reason").alias("decision_reason"),
        F.col("decided.explicit_suggested").alias("explicit_suggested"),
        F.lit(card.version).alias("model_version"),
    )


JOB = SignalJob(
    CONTENT_SAFETY,
    inputs=(Catalogue(), SameDayPartition(CONTENT_EMBEDDING.name, name="embeddings"), PartitionDate()),
    transform=base,
    # Its default version (promoted, else newest) scores each day.
    model=TextClassifierModel("safety", classes=REQUIRED_CLASSES),
)
