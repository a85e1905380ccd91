"""The ``content_audio`` job: mood, tempo and speech signals of tracks from audio descriptors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.config import ModelsConfig
from content_signals.definitions import CONTENT_AUDIO, SignalTable
from content_signals.jobs.inputs import read_inputs, require
from content_signals.jobs.schema import compute_partition
from content_signals.layout import DataLayout

TABLE = CONTENT_AUDIO


def base(content: DataFrame, audio: DataFrame) -> DataFrame:
    """One row per track that has audio descriptors: ``duration_ms`` plus every descriptor column
    (``loudness_db``, ``energy``, ``valence``, ``tempo_bpm``, ``speechiness``, ...)."""
    tracks = content.where(F.col("content_type") == "track").select("content_id", "duration_ms")
    return tracks.join(audio, on="content_id", how="inner")


def compute(
    content: DataFrame, audio: DataFrame, day: date, created_at: datetime, table: SignalTable = TABLE
) -> DataFrame:
    return compute_partition(table, base(content, audio), day, created_at)


def input_paths(layout: DataLayout, day: date) -> dict[str, list[Path]]:
    return {
        "content": [require(layout.content_path, "catalogue")],
        "audio": [require(layout.audio_features_path, "audio features")],
    }


def build(
    spark: SparkSession,
    layout: DataLayout,
    day: date,
    created_at: datetime,
    table: SignalTable = TABLE,
    models: ModelsConfig | None = None,  # no model runs in this job
) -> DataFrame:
    frames = read_inputs(spark, input_paths(layout, day))
    return compute(frames["content"], frames["audio"], day, created_at, table)
