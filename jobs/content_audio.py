"""The ``content_audio`` job: mood, tempo and speech signals of tracks from audio descriptors."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_AUDIO
from content_signals.jobs.inputs import AudioFeatures, Catalogue
from content_signals.jobs.signal_job import SignalJob


def base(content: DataFrame, audio: DataFrame) -> DataFrame:
    """One row per track that has audio descriptors: ``duration_ms`` plus every descriptor column
    (``loudness_db``, ``energy``, ``valence``, ``tempo_bpm``, ``speechiness``, ...)."""
    tracks = content.where(F.col("content_type") == "track").select("content_id", "duration_ms")
    return tracks.join(audio, on="content_id", how="inner")


JOB = SignalJob(CONTENT_AUDIO, inputs=(Catalogue(), AudioFeatures()), transform=base)
