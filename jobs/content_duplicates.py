"""The ``content_duplicates`` job: near-duplicates, same-creator bursts and possible re-uploads of
each item, from its nearest neighbours in the day's vector index of ``content_embedding``.

The model input (:class:`NeighbourPairsModel`) ensures the day's index version exists for the
published partition's current run (:func:`content_signals.jobs.vector_index.ensure_index`) and
hands the transform every item's nearest neighbours as a DataFrame; :func:`base` is a pure
DataFrame transform over the catalogue, the partition's items and those pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from content_signals.config import ModelsConfig, SimilarityConfig
from content_signals.definitions import (
    BURST_SIMILARITY,
    BURST_WINDOW_DAYS,
    CONTENT_DUPLICATES,
    CONTENT_EMBEDDING,
    DUPLICATE_NEIGHBOURS,
    NEAR_DUPLICATE_SIMILARITY,
    SignalTable,
)
from content_signals.jobs.inputs import Catalogue, SameDayPartition
from content_signals.jobs.signal_job import SignalJob
from content_signals.jobs.vector_index import ensure_index
from content_signals.layout import DataLayout
from content_signals.similarity.duplicates import PAIR_SCHEMA, neighbour_pairs
from content_signals.similarity.index import VectorIndex

# The pairs' Spark schema is their Arrow schema (one definition, in the similarity stage).
PAIRS_SCHEMA = from_arrow_schema(PAIR_SCHEMA)


@dataclass(frozen=True)
class NeighbourPairsModel:
    """The ``k`` nearest neighbours of every item in the day's index of ``content_embedding``
    (built first if the version in place does not come from the partition's current run), with
    each item's near-duplicate group: a DataFrame of :data:`PAIRS_SCHEMA`."""

    k: int = DUPLICATE_NEIGHBOURS
    threshold: float = NEAR_DUPLICATE_SIMILARITY
    name: str = "pairs"

    def check(self, layout: DataLayout) -> None:
        """Nothing to check without the date: the partition it needs is the job's input."""

    def load(
        self,
        spark: SparkSession,
        layout: DataLayout,
        models: ModelsConfig,
        table: SignalTable,
        *,
        day: date,
        similarity: SimilarityConfig,
    ) -> DataFrame:
        ensure_index(layout, day, encoder=models.text_encoder, settings=similarity)
        index = VectorIndex(layout.vector_index_version(CONTENT_EMBEDDING.name, day), view=True)
        pairs = neighbour_pairs(index, self.k, self.threshold, threads=similarity.threads)
        # Straight from Arrow: no Python object per pair (20 per item).
        return spark.createDataFrame(pairs, schema=PAIRS_SCHEMA)


def base(content: DataFrame, embeddings: DataFrame, pairs: DataFrame) -> DataFrame:
    """One row per item of the ``content_embedding`` partition, with

    ``nearest_neighbour_id``, ``nearest_similarity`` (double; null without neighbours),
    ``near_duplicate_count`` (neighbours at or above the threshold), ``near_duplicate_group_size``
    (items sharing the item's ``group_id``; 1 alone), ``same_creator_burst_count`` and
    ``earlier_other_creator_duplicates`` (null when the item has no release date; neighbours
    without a release date or creator are not counted) and ``possible_reupload_of``.

    ``pairs``: ``content_id``, ``neighbour_id``, ``similarity``, ``rank`` (1 = nearest),
    ``group_id`` (the near-duplicate group of ``content_id``).
    """
    catalogue = content.select("content_id", "creator_id", "release_date")
    items = embeddings.select("content_id").join(catalogue, "content_id", "left")
    neighbours = items.select(
        F.col("content_id").alias("neighbour_id"),
        F.col("creator_id").alias("neighbour_creator_id"),
        F.col("release_date").alias("neighbour_release_date"),
    )
    linked = pairs.join(items, "content_id").join(neighbours, "neighbour_id", "left")
    duplicate = F.col("similarity") >= F.lit(NEAR_DUPLICATE_SIMILARITY)
    apart = F.abs(F.datediff(F.col("neighbour_release_date"), F.col("release_date")))
    same_creator = F.col("neighbour_creator_id") == F.col("creator_id")
    # count_if counts true only: a null comparison (unknown creator or date) is not counted.
    lookalike = F.col("similarity") >= F.lit(BURST_SIMILARITY)
    burst = lookalike & same_creator & (apart <= F.lit(BURST_WINDOW_DAYS))
    earlier_other = duplicate & ~same_creator & (F.col("neighbour_release_date") < F.col("release_date"))
    per_item = linked.groupBy("content_id").agg(
        F.min_by("neighbour_id", "rank").alias("nearest_neighbour_id"),
        F.min_by("similarity", "rank").cast("double").alias("nearest_similarity"),
        F.count_if(duplicate).alias("near_duplicate_count"),
        F.count_if(burst).alias("burst"),
        F.count_if(earlier_other).alias("earlier"),
        F.min(
            F.when(
                earlier_other,
                F.struct(
                    F.col("neighbour_release_date"), (-F.col("similarity")).alias("s"), F.col("neighbour_id")
                ),
            )
        )["neighbour_id"].alias("possible_reupload_of"),
        F.first("group_id").alias("group_id"),
    )
    dated = F.col("release_date").isNotNull()
    rows = items.join(per_item, "content_id", "left").withColumn(
        "group_id", F.coalesce(F.col("group_id"), F.col("content_id"))
    )
    return rows.select(
        "content_id",
        "nearest_neighbour_id",
        "nearest_similarity",
        F.coalesce(F.col("near_duplicate_count"), F.lit(0)).cast("long").alias("near_duplicate_count"),
        F.count(F.lit(1)).over(Window.partitionBy("group_id")).alias("near_duplicate_group_size"),
        F.when(dated, F.coalesce(F.col("burst"), F.lit(0))).cast("long").alias("same_creator_burst_count"),
        F.when(dated, F.coalesce(F.col("earlier"), F.lit(0)))
        .cast("long")
        .alias("earlier_other_creator_duplicates"),
        "possible_reupload_of",
    )


JOB = SignalJob(
    CONTENT_DUPLICATES,
    inputs=(Catalogue(), SameDayPartition(CONTENT_EMBEDDING.name, name="embeddings")),
    transform=base,
    model=NeighbourPairsModel(),
)
