"""Schemas and helpers for hand-written input rows shared by the transform tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import types as T

DAY = date(2026, 1, 10)
CREATED = datetime(2026, 1, 11, 3, 0, tzinfo=UTC)
PARTITION_TS = datetime(2026, 1, 11, 0, 0, tzinfo=UTC)

CONTENT_SCHEMA = T.StructType(
    [
        T.StructField("content_id", T.StringType()),
        T.StructField("content_type", T.StringType()),
        T.StructField("title", T.StringType()),
        T.StructField("description", T.StringType()),
        T.StructField("creator_id", T.StringType()),
        T.StructField("duration_ms", T.LongType()),
        T.StructField("explicit", T.BooleanType()),
        T.StructField("release_date", T.DateType()),
        T.StructField("language", T.StringType()),
    ]
)
EVENT_SCHEMA = T.StructType(
    [
        T.StructField("user_id", T.StringType()),
        T.StructField("content_id", T.StringType()),
        T.StructField("event_timestamp", T.TimestampType()),
        T.StructField("ms_played", T.LongType()),
        T.StructField("saved", T.BooleanType()),
    ]
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)
