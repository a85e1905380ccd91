"""The ``content_embedding`` job: one 384-dim vector per catalogue item from its title and description.

The encoder runs in Spark workers (:mod:`content_signals.models.batch_scoring`). Encoding is the
expensive part of the platform's daily run (about 100 texts/s per 2 CPU cores), and catalogue text
rarely changes: each row carries a fingerprint of its text and of the encoder's weights, and an
item whose fingerprint equals the one in the previous published partition keeps that partition's
vector (which passed the gate) instead of being encoded again.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_EMBEDDING
from content_signals.jobs.inputs import Catalogue, PreviousPartition
from content_signals.jobs.model_inputs import TextEncoderModel
from content_signals.jobs.signal_job import SignalJob
from content_signals.jobs.vector_index import build_after_publish
from content_signals.models.batch_scoring import (
    SparkEncoder,
    embedding_column,
    spread_over_cores,
    text_column,
    text_fingerprint,
)


def base(content: DataFrame, previous: DataFrame | None, encoder: SparkEncoder) -> DataFrame:
    """One row per item: ``text_embedding`` and ``embedded_text_fingerprint``.

    Items whose fingerprint matches ``previous`` (the last published partition) reuse its vector;
    only the rest reach the encoder.
    """
    items = content.select("content_id", text_column().alias("text")).withColumn(
        "embedded_text_fingerprint", text_fingerprint(F.col("text"), encoder.info.weights_sha256)
    )
    if previous is None:
        to_encode, reused = items, None
    else:
        known = previous.select(
            "content_id",
            F.col("embedded_text_fingerprint").alias("known_fingerprint"),
            F.col("text_embedding").alias("known_embedding"),
        )
        joined = items.join(known, "content_id", "left")
        same = F.coalesce(F.col("known_fingerprint") == F.col("embedded_text_fingerprint"), F.lit(False))
        reused = joined.where(same).select(
            "content_id", "embedded_text_fingerprint", F.col("known_embedding").alias("text_embedding")
        )
        to_encode = joined.where(~same).select("content_id", "text", "embedded_text_fingerprint")
    encoded = spread_over_cores(to_encode).select(
        "content_id",
        "embedded_text_fingerprint",
        embedding_column(F.col("text"), encoder.config).alias("text_embedding"),
    )
    return encoded if reused is None else reused.unionByName(encoded)


JOB = SignalJob(
    CONTENT_EMBEDDING,
    inputs=(Catalogue(), PreviousPartition(CONTENT_EMBEDDING.name)),
    transform=base,
    model=TextEncoderModel("text_embedding"),
    # The day's vector index (nearest neighbours, content_duplicates) follows each published run.
    after_publish=build_after_publish,
)
