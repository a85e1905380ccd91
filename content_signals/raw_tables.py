"""The raw data every stage reads, whoever wrote it: the catalogue (items, creators, audio
descriptors) and listening events, as column -> Spark SQL type.

The synthetic generator, the catalogue importer and the events importer all write exactly these
schemas, so the jobs cannot tell generated data from imported data.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql import types as T

CONTENT_COLUMNS = {
    "content_id": "string",
    "content_type": "string",
    "title": "string",
    "description": "string",
    "creator_id": "string",
    "duration_ms": "bigint",
    "explicit": "boolean",
    "release_date": "date",
    "language": "string",
}
CREATOR_COLUMNS = {"creator_id": "string", "name": "string", "joined_date": "date"}
AUDIO_FEATURES = (
    "loudness_db", "energy", "valence", "tempo_bpm", "speechiness",
    "danceability", "acousticness", "instrumentalness", "liveness",
)  # fmt: skip
AUDIO_COLUMNS = {"content_id": "string", **dict.fromkeys(AUDIO_FEATURES, "double")}
EVENT_COLUMNS = {
    "user_id": "string",
    "content_id": "string",
    "event_timestamp": "timestamp",
    "ms_played": "bigint",
    "saved": "boolean",
}
# Two events are the same event when these are equal: importing a log twice adds nothing.
EVENT_KEY = ("user_id", "content_id", "event_timestamp", "ms_played")

_ARROW_TYPES = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "bigint": T.LongType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "double": T.DoubleType(),
    "timestamp": T.TimestampType(),
}


def arrow_schema(columns: dict[str, str]) -> pa.Schema:
    """The same columns as a pyarrow schema (for writers that do not go through Spark)."""
    return pa.schema([(name, _ARROW_TYPES[dtype]) for name, dtype in columns.items()])


def spark_schema(columns: dict[str, str]) -> T.StructType:
    """The same columns as a Spark schema."""
    return T.StructType([T.StructField(name, _SPARK_TYPES[dtype]) for name, dtype in columns.items()])
