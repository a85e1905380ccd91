"""The ``content_embedding`` job: one 384-dim vector per catalogue item from its title and description.

The encoder runs inside an iterator pandas UDF: Spark hands each Python worker a stream of Arrow
batches, the worker loads the encoder once (:func:`content_signals.models.text_encoder.shared_encoder`,
kept across tasks because Spark reuses Python workers) and encodes each batch with the same
batch size a single process would use. Torch gets ``cores / concurrent tasks`` threads per worker,
so two tasks on two cores do not fight over four threads (which made the job 2x slower).

Encoding is the expensive part of the platform's daily run (about 100 texts/s per 2 CPU cores), and
catalogue text rarely changes: each row carries a fingerprint of its text and of the encoder's
weights, and an item whose fingerprint equals the one in the previous published partition keeps
that partition's vector (which passed the gate) instead of being encoded again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from content_signals.config import ModelsConfig, TextEncoderConfig
from content_signals.definitions import CONTENT_EMBEDDING, SignalTable
from content_signals.errors import SignalsError
from content_signals.jobs.inputs import require
from content_signals.jobs.schema import compute_partition
from content_signals.layout import DataLayout
from content_signals.models.text_encoder import TextEncoder, shared_encoder
from content_signals.partitions import previous_partition
from content_signals.text import NORMALISATION_VERSION, normalise_text

TABLE = CONTENT_EMBEDDING

EMBEDDING_TYPE = T.ArrayType(T.FloatType(), containsNull=False)


def text_column(title: str = "title", description: str = "description") -> Column:
    """Spark's version of :func:`content_signals.text.text_of`: trimmed, ". "-joined."""
    parts = [F.nullif(F.trim(F.col(c)), F.lit("")) for c in (title, description)]
    return F.coalesce(F.concat_ws(". ", *parts), F.lit(""))


def encoder_for_spark(spark: SparkSession, config: TextEncoderConfig) -> TextEncoderConfig:
    """``config`` with torch threads shared out between the tasks that run at once on a host."""
    if config.torch_threads is not None:
        return config
    concurrent_tasks = max(1, spark.sparkContext.defaultParallelism)
    if (spark.sparkContext.master or "").startswith("local"):
        cores = os.cpu_count() or 1
    else:
        cores = int(spark.conf.get("spark.executor.cores", "1") or 1)
        concurrent_tasks = max(1, cores // int(spark.conf.get("spark.task.cpus", "1") or 1))
    return config.model_copy(update={"torch_threads": max(1, cores // concurrent_tasks)})


def text_fingerprint(text: Column, encoder_digest: str) -> Column:
    """16 hex digits identifying what a vector was computed from: the encoder's weights, the text
    normalisation and the text itself."""
    identity = F.lit(f"{encoder_digest}\n{NORMALISATION_VERSION}\n")
    return F.substring(F.sha2(F.concat(identity, text), 256), 1, 16)


def embedding_column(text: Column, config: TextEncoderConfig) -> Column:
    """A column of unit-length float vectors, one per text, encoded as the models see text
    (:func:`content_signals.text.normalise_text`; null text embeds as empty text)."""

    @F.pandas_udf(EMBEDDING_TYPE)  # type: ignore[call-overload]
    def embed(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        encoder = shared_encoder(config)
        for texts in batches:
            vectors = encoder.encode([normalise_text(t) for t in texts.fillna("").tolist()])
            yield _as_list_series(vectors)

    return embed(text)  # type: ignore[no-any-return]


def _as_list_series(vectors: np.ndarray) -> pd.Series:
    """A Series of float lists backed by one Arrow buffer (no Python list per row)."""
    n, width = vectors.shape
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    lists = pa.ListArray.from_arrays(offsets, flat)
    return pd.Series(pd.arrays.ArrowExtensionArray(lists))


def spread_over_cores(frame: DataFrame) -> DataFrame:
    """Encoding dominates the cost, so a frame read as fewer partitions than Spark runs tasks at
    once (one small file is one partition) is spread out first: otherwise cores sit idle."""
    parallelism = frame.sparkSession.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < parallelism:
        return frame.repartition(parallelism)
    return frame


def embed_content(content: DataFrame, config: TextEncoderConfig, output: str = "text_embedding") -> DataFrame:
    """``content_id`` and the embedding of each item's title and description."""
    encoder = encoder_for_spark(content.sparkSession, config)
    return spread_over_cores(content).select(
        "content_id", embedding_column(text_column(), encoder).alias(output)
    )


def base(
    content: DataFrame,
    previous: DataFrame | None,
    encoder_config: TextEncoderConfig,
    encoder_digest: str,
) -> DataFrame:
    """One row per item: ``text_embedding`` and ``embedded_text_fingerprint``.

    Items whose fingerprint matches ``previous`` (the last published partition) reuse its vector;
    only the rest reach the encoder.
    """
    items = content.select("content_id", text_column().alias("text")).withColumn(
        "embedded_text_fingerprint", text_fingerprint(F.col("text"), encoder_digest)
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
        embedding_column(F.col("text"), encoder_config).alias("text_embedding"),
    )
    return encoded if reused is None else reused.unionByName(encoded)


def checked_encoder(config: TextEncoderConfig, table: SignalTable = TABLE) -> TextEncoder:
    """The configured encoder, after checking it gives vectors of the table's dimension."""
    encoder = shared_encoder(config)
    wanted = table.signal("text_embedding").dimension
    if encoder.info.dimension != wanted:
        raise SignalsError(
            f"text encoder {encoder.info.name} gives {encoder.info.dimension}-dim vectors; "
            f"{table.name}.text_embedding is defined with {wanted}"
        )
    return encoder


def compute(
    content: DataFrame,
    previous: DataFrame | None,
    encoder_config: TextEncoderConfig,
    day: date,
    created_at: datetime,
    table: SignalTable = TABLE,
) -> DataFrame:
    encoder = checked_encoder(encoder_config, table)
    spark_config = encoder_for_spark(content.sparkSession, encoder_config)
    frame = base(content, previous, spark_config, encoder.info.weights_sha256)
    return compute_partition(table, frame, day, created_at)


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    return {"content": [require(layout.content_path, "catalogue")]}


def build(
    spark: SparkSession,
    layout: DataLayout,
    day: date,
    created_at: datetime,
    table: SignalTable = TABLE,
    models: ModelsConfig | None = None,
) -> DataFrame:
    content = spark.read.parquet(*map(str, input_paths(layout, day)["content"]))
    known = previous_partition(layout, table.name, day)
    previous = spark.read.parquet(str(known[1])) if known is not None else None
    return compute(content, previous, (models or ModelsConfig()).text_encoder, day, created_at, table)
