"""The ``content_audio`` job: mood, tempo and speech signals of tracks from audio descriptors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_AUDIO
from content_signals.layout import DataLayout
from jobs.inputs import require
from jobs.schema import as_partition

TABLE = CONTENT_AUDIO
SPOKEN_WORD_SPEECHINESS = 0.66
PODCAST_DURATION_S = 3600.0


def _mood(energy: Column, valence: Column) -> Column:
    return (
        F.when(energy.isNull() | valence.isNull(), "unknown")
        .when((energy >= 0.5) & (valence >= 0.5), "energetic_positive")
        .when(energy >= 0.5, "energetic_negative")
        .when(valence >= 0.5, "calm_positive")
        .otherwise("calm_negative")
    )


def _tempo(bpm: Column) -> Column:
    return (
        F.when(bpm.isNull() | (bpm <= 0), "unknown")
        .when(bpm < 90, "slow")
        .when(bpm < 120, "moderate")
        .when(bpm < 150, "fast")
        .otherwise("very_fast")
    )


def compute(content: DataFrame, audio: DataFrame, day: date, created_at: datetime) -> DataFrame:
    """One row per track that has audio descriptors."""
    tracks = content.where(F.col("content_type") == "track").select("content_id", "duration_ms")
    joined = tracks.join(audio, on="content_id", how="inner")
    # greatest/least skip nulls, so an unknown loudness must be kept null explicitly.
    loudness = F.when(
        F.col("loudness_db").isNotNull(),
        F.least(F.greatest((F.col("loudness_db") + 60.0) / 60.0, F.lit(0.0)), F.lit(1.0)),
    )
    duration_share = F.least(F.col("duration_ms") / 1000.0 / PODCAST_DURATION_S, F.lit(1.0))
    speechiness = F.col("speechiness")
    result = joined.select(
        "content_id",
        loudness.alias("loudness_normalised"),
        _mood(F.col("energy"), F.col("valence")).alias("mood_quadrant"),
        _tempo(F.col("tempo_bpm")).alias("tempo_bucket"),
        F.coalesce(speechiness > SPOKEN_WORD_SPEECHINESS, F.lit(False)).alias("is_spoken_word"),
        ((speechiness + duration_share) / 2.0).alias("podcast_likeness"),
    )
    return as_partition(result, TABLE, day, created_at)


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    return {
        "content": [require(layout.content_path, "catalogue")],
        "audio": [require(layout.audio_features_path, "audio features")],
    }


def build(spark: SparkSession, layout: DataLayout, day: date, created_at: datetime) -> DataFrame:
    paths = input_paths(layout, day)
    content = spark.read.parquet(*map(str, paths["content"]))
    audio = spark.read.parquet(*map(str, paths["audio"]))
    return compute(content, audio, day, created_at)
