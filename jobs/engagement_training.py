"""Assembling the engagement model's training frame, then training it.

The model kind (:mod:`content_signals.models.engagement`) trains on an in-memory frame; this job
builds that frame from the platform's data: the label's raw material (each catalogue item's plays
in the :data:`~content_signals.models.engagement.LABEL_DAYS` days after the training date, from the
listening events), the features of the ``ranking_v1`` service as the Feast registry holds it, point
in time as of the end of the training date (:mod:`content_signals.feature_repo.training_sets`), and
each item's content type from the catalogue (a slice of the card).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from content_signals.config import PlatformConfig
from content_signals.definitions import ENTITY_TIMESTAMP
from content_signals.errors import SignalsError
from content_signals.feature_repo.training_sets import build_training_set, feature_service_views
from content_signals.layout import DataLayout
from content_signals.models.engagement import (
    FEATURE_SERVICE,
    LABEL_DAYS,
    MODEL_NAME,
    PLAYS_COLUMN,
    TrainingResult,
    label_days,
    numeric_features,
    train_on_frame,
)
from content_signals.partitions import partition_timestamp

# The tables behind FEATURE_SERVICE: each needs a validated partition for the training date.
FEATURE_TABLES = ("content_engagement", "content_metadata", "content_audio", "creator_profile")


def check_trainable(layout: DataLayout, day: date) -> None:
    """Raise unless the features and the label's events for ``day`` exist (no engine needed)."""
    for table in FEATURE_TABLES:
        if not layout.signal_partition(table, day).exists():
            raise SignalsError(
                f"no validated {table} partition for {day.isoformat()}: "
                f"run `signals jobs run {table} --date {day.isoformat()}` first"
            )
    missing = [d.isoformat() for d in label_days(day) if not layout.events_partition(d).exists()]
    if missing:
        raise SignalsError(
            f"cannot label {day.isoformat()}: listening events for the following {LABEL_DAYS} days "
            f"are needed and {', '.join(missing)} are missing"
        )


def future_plays(spark: SparkSession, layout: DataLayout, day: date) -> pd.DataFrame:
    """Plays per catalogue item in the label's days after ``day`` (0 for an item nobody played)."""
    events = spark.read.parquet(*[str(layout.events_partition(d)) for d in label_days(day)])
    content = spark.read.parquet(str(layout.content_path)).select("content_id")
    plays = events.groupBy("content_id").agg(F.count(F.lit(1)).alias(PLAYS_COLUMN))
    joined = content.join(plays, "content_id", "left").fillna(0, subset=[PLAYS_COLUMN])
    return joined.toPandas()


def catalogue_content_types(spark: SparkSession, layout: DataLayout) -> pd.DataFrame:
    """Each item's content type, a slice of the model card. It is a fixed attribute of an item (a
    track never becomes an episode) and no signal carries it, so the catalogue is the source."""
    return spark.read.parquet(str(layout.content_path)).select("content_id", "content_type").toPandas()


def training_frame(
    config: PlatformConfig,
    spark: SparkSession,
    day: date,
    progress: Callable[[str], None] = lambda _line: None,
) -> tuple[pd.DataFrame, list[str]]:
    """Every catalogue item with its features as of the end of ``day``, its future plays and its
    content type, and the names of the model's input features."""
    layout = DataLayout(config.data_dir)
    plays = future_plays(spark, layout, day)
    feature_time = partition_timestamp(day)
    entity_df = pd.DataFrame(
        {"content_id": plays["content_id"], ENTITY_TIMESTAMP: pd.Timestamp(feature_time)}
    )
    views = feature_service_views(config, FEATURE_SERVICE).views
    features = numeric_features([(v.table.name, list(v.features)) for v in views])
    progress(
        f"training set: {len(entity_df):,} items as of {feature_time.isoformat()}, "
        f"{len(features)} features from {FEATURE_SERVICE}"
    )
    frame: pd.DataFrame = build_training_set(
        spark, layout, spark.createDataFrame(entity_df), views, progress=progress
    ).toPandas()
    if len(frame) != len(entity_df):
        raise SignalsError(f"training set has {len(frame)} rows for {len(entity_df)} entities")
    frame = frame.merge(plays, on="content_id", how="inner").merge(
        catalogue_content_types(spark, layout), on="content_id", how="left"
    )
    return frame, features


def train_engagement(
    config: PlatformConfig,
    spark: SparkSession,
    day: date,
    progress: Callable[[str], None] = lambda _line: None,
    epochs: int = 300,
    seed: int = 0,
) -> TrainingResult:
    """Train a new engagement version on features as of the end of ``day``, labelled by the
    following days' plays."""
    layout = DataLayout(config.data_dir)
    check_trainable(layout, day)
    frame, features = training_frame(config, spark, day, progress)
    return train_on_frame(frame, features, day, layout.model_dir(MODEL_NAME), progress, epochs, seed)
