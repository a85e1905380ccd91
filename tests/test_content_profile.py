"""The content_profile transform on hand-written rows with hand-computed values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from content_signals.definitions import CONTENT_PROFILE
from jobs import content_profile
from jobs.schema import output_schema

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
    ]
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="module")
def content(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [
            ("c1", "track", "  Hello World ", "abc", "cr1", 125_000, True, date(2026, 1, 1), "en"),
            # Nothing but a creator; released after the partition date.
            ("c2", "episode", None, "   ", "cr1", None, None, date(2026, 2, 1), None),
            # Exactly one hour long; released on the partition date itself.
            ("c3", "audiobook", "x", None, "cr2", 3_600_000, False, DAY, "sv"),
        ],
        CONTENT_SCHEMA,
    )


@pytest.fixture(scope="module")
def events(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [
            ("u1", "c1", utc(2026, 1, 10, 0, 0, 0), 1000),  # first instant of the day: counts
            ("u2", "c1", datetime(2026, 1, 10, 23, 59, 59, 999_999, tzinfo=UTC), 1000),  # last instant
            ("u1", "c1", utc(2026, 1, 11, 0, 0, 0), 1000),  # end of the partition: never counts
            ("u3", "c1", utc(2026, 1, 4, 0, 0, 0), 1000),  # first instant of the 7-day window
            ("u4", "c1", utc(2026, 1, 3, 23, 59, 59), 1000),  # just before the window
            ("u1", "c3", utc(2026, 1, 9, 12, 0, 0), 1000),
            ("u1", "c3", utc(2026, 1, 9, 13, 0, 0), 1000),  # same listener again
            ("u9", "c404", utc(2026, 1, 10, 8, 0, 0), 1000),  # not in the catalogue
        ],
        EVENT_SCHEMA,
    )


def test_signals_match_hand_computed_values(spark, content, events) -> None:  # type: ignore[no-untyped-def]
    expected = spark.createDataFrame(
        [
            ("c1", PARTITION_TS, CREATED, 11, 3, 1.0, 125.0, "2m_to_5m", 9, True, 2, 3, 3),
            # Creator and release date are present (a future date is still a date): 2 of 6 fields.
            ("c2", PARTITION_TS, CREATED, 0, 0, 2 / 6, None, "unknown", None, False, 0, 0, 0),
            ("c3", PARTITION_TS, CREATED, 1, 0, 5 / 6, 3600.0, "over_60m", 0, False, 0, 2, 1),
        ],
        output_schema(CONTENT_PROFILE),
    )
    actual = content_profile.compute(content, events, DAY, CREATED)
    assertSchemaEqual(actual.schema, expected.schema, ignoreNullable=True)
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=1e-9)


def test_an_event_at_the_partition_boundary_belongs_to_the_next_day(spark, content, events) -> None:  # type: ignore[no-untyped-def]
    today = content_profile.compute(content, events, DAY, CREATED).where("content_id = 'c1'").first()
    tomorrow = content_profile.compute(content, events, date(2026, 1, 11), CREATED)
    assert today is not None and today["plays_1d"] == 2
    next_day = tomorrow.where("content_id = 'c1'").first()
    assert next_day is not None and next_day["plays_1d"] == 1


def test_later_events_never_change_a_partition(spark, content, events) -> None:  # type: ignore[no-untyped-def]
    later = spark.createDataFrame(
        [("u7", "c1", utc(2026, 1, 12, 9, 0, 0), 500), ("u8", "c3", utc(2026, 1, 11, 0, 0, 0), 1)],
        EVENT_SCHEMA,
    )
    before = content_profile.compute(content, events, DAY, CREATED)
    after = content_profile.compute(content, events.unionByName(later), DAY, CREATED)
    assertDataFrameEqual(after, before, checkRowOrder=False)


def test_duration_buckets_cover_every_band(spark) -> None:  # type: ignore[no-untyped-def]
    durations = [0, 119_999, 120_000, 299_999, 300_000, 1_199_999, 1_200_000, 3_599_999, 3_600_000]
    rows = [
        (f"d{i}", "track", "t", "d", "cr", ms, False, date(2025, 1, 1), "en")
        for i, ms in enumerate(durations)
    ]
    frame = spark.createDataFrame(rows, CONTENT_SCHEMA)
    no_events = spark.createDataFrame([], EVENT_SCHEMA)
    result = content_profile.compute(frame, no_events, DAY, CREATED).orderBy("duration_seconds").collect()
    assert [r["duration_bucket"] for r in result] == [
        "under_2m", "under_2m", "2m_to_5m", "2m_to_5m", "5m_to_20m",
        "5m_to_20m", "20m_to_60m", "20m_to_60m", "over_60m",
    ]  # fmt: skip
