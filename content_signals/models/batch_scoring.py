"""Models applied to whole DataFrames in Spark: text embeddings, the text classifier and decisions.

The daily jobs (``content_embedding``, ``content_safety``) and the review export score with these
functions, so a text is embedded, classified and decided on the same way wherever Spark does it,
and the same way as serving does for one request (the same :class:`TextEncoder`, head and
:func:`~content_signals.models.decisions.decide`).

Each model runs inside a pandas UDF: Spark hands each Python worker a stream of Arrow batches, and
the worker loads the model once (the encoder through :func:`shared_encoder`, a classifier version
through :func:`_classifier`, both cached per process because Spark reuses Python workers), then
scores each batch with the batch size a single process would use. Torch gets ``cores / concurrent
tasks`` threads per worker (:func:`encoder_for_spark`), so two tasks on two cores do not fight over
four threads (which made encoding 2x slower).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from content_signals.config import TextEncoderConfig
from content_signals.errors import SignalsError
from content_signals.models.decisions import decide_version
from content_signals.models.networks import ModelCard, TextClassifierHead, load_model
from content_signals.models.policy import read_policy
from content_signals.models.text_encoder import EncoderInfo, check_encoder_matches, shared_encoder
from content_signals.text import NORMALISATION_VERSION, normalise_text

EMBEDDING_TYPE = T.ArrayType(T.FloatType(), containsNull=False)


# --- text embeddings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkEncoder:
    """The text encoder as Spark workers run it: its settings (torch threads shared out between the
    tasks on a host) and what identifies its output (the weights digest that stored vectors'
    fingerprints cover, the dimension)."""

    config: TextEncoderConfig
    info: EncoderInfo


def spark_encoder(spark: SparkSession, config: TextEncoderConfig) -> SparkEncoder:
    """Load the configured encoder on the driver (for its weights digest and dimension; a broken
    model fails here, not in a worker) and share torch threads out for ``spark``'s tasks."""
    return SparkEncoder(encoder_for_spark(spark, config), shared_encoder(config).info)


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
    """Scoring dominates the cost, so a frame read as fewer partitions than Spark runs tasks at
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


# --- the text classifier -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierVersion:
    """One stored version of a text classifier: its folder (which each worker loads) and its card."""

    path: Path
    card: ModelCard


@cache
def _classifier(model_dir: str) -> tuple[ModelCard, TextClassifierHead]:
    card, network = load_model(Path(model_dir))
    if not isinstance(network, TextClassifierHead):
        raise SignalsError(f"{card.name} {card.version} is not a text classifier")
    return card, network


def text_classifier(model_dir: Path) -> ClassifierVersion:
    """The text classifier stored at ``model_dir``, loaded once per process; raises if the version
    there is another kind of model."""
    return ClassifierVersion(model_dir, _classifier(str(model_dir))[0])


def classify_embeddings(items: DataFrame, model_dir: Path) -> DataFrame:
    """``items`` (``text`` and its ``text_embedding``) with ``p_<class>`` per class: the text is
    normalised as in training for the n-gram features; the embedding is used as it is."""
    classes = text_classifier(model_dir).card.classes
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


def score_content(content: DataFrame, model_dir: Path, encoder_config: TextEncoderConfig) -> DataFrame:
    """``content_id``, ``p_<class>`` per class and ``unsafe_score`` for every item, encoding its text
    now (as the ``content_embedding`` job does), then :func:`classify_embeddings`. For text that has
    no stored embedding."""
    card = text_classifier(model_dir).card
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


# --- decisions -----------------------------------------------------------------------------------


DECISION_TYPE = "struct<decision: string, category: string, reason: string, explicit_suggested: boolean>"


def version_decision_column(
    probabilities: list[Column], explicit: Column, version: ClassifierVersion
) -> Column:
    """What ``version`` decides on each item, as :func:`~content_signals.models.decisions.decide_version`
    decides it in serving: a struct of ``decision`` (``allow`` ...), ``category`` (the rule's
    category, null for allow), ``reason`` (one line) and ``explicit_suggested``, from the class
    probabilities (in the card's class order) and the catalogue's explicit flag (null: unknown)."""
    card = version.card
    policy = read_policy(version.path)

    @F.pandas_udf(DECISION_TYPE)  # type: ignore[call-overload]
    def decision(*columns: pd.Series) -> pd.DataFrame:
        *class_columns, flags = columns
        matrix = np.column_stack([c.to_numpy(dtype=np.float64) for c in class_columns])
        explicit_flags = [None if pd.isna(v) else bool(v) for v in flags]
        decided = decide_version(matrix, card.classes, policy, card.decision_thresholds, explicit_flags)
        return pd.DataFrame(
            {
                "decision": decided.labels(),
                "category": [c or None for c in decided.categories],
                "reason": decided.reasons(),
                "explicit_suggested": decided.explicit_suggested,
            }
        )

    return decision(*probabilities, explicit)  # type: ignore[no-any-return]
