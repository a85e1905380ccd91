"""The content_engagement and creator_profile transforms on hand-written rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from content_signals.definitions import CONTENT_ENGAGEMENT, CREATOR_PROFILE
from content_signals.jobs import content_engagement, creator_profile
from content_signals.partitions import output_schema
from tests.rows import CONTENT_SCHEMA, CREATED, DAY, EVENT_SCHEMA, PARTITION_TS, utc


def _item(content_id: str, duration_ms: int | None, **fields):  # type: ignore[no-untyped-def]
    row = {
        "content_type": "track", "title": "t", "description": None, "creator_id": "cr1",
        "explicit": False, "release_date": date(2025, 1, 1), "language": "en", **fields,
    }  # fmt: skip
    return (content_id, row["content_type"], row["title"], row["description"], row["creator_id"],
            duration_ms, row["explicit"], row["release_date"], row["language"])  # fmt: skip


@pytest.fixture(scope="module")
def content(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [_item("c1", 100_000), _item("c2", None), _item("c3", 200_000)], CONTENT_SCHEMA
    )


@pytest.fixture(scope="module")
def events(spark):  # type: ignore[no-untyped-def]
    last_instant = datetime(2026, 1, 10, 23, 59, 59, 999_999, tzinfo=UTC)
    return spark.createDataFrame(
        [
            ("u1", "c1", utc(2026, 1, 10, 0, 0, 0), 100_000, True),  # first instant of the day; complete
            ("u2", "c1", last_instant, 10_000, False),  # last instant of the day; a skip
            ("u1", "c1", utc(2026, 1, 11, 0, 0, 0), 100_000, True),  # end of the partition: never counts
            ("u3", "c1", utc(2026, 1, 4, 0, 0, 0), 95_000, False),  # first instant of 7 days; complete
            ("u4", "c1", utc(2026, 1, 3, 23, 59, 59), 50_000, False),  # just before the 7-day window
            ("u5", "c1", utc(2025, 12, 14, 0, 0, 0), 29_999, True),  # first instant of 28 days; a skip
            ("u6", "c1", utc(2025, 12, 13, 23, 59, 59), 1, True),  # just before the 28-day window
            ("u1", "c2", utc(2026, 1, 9, 12, 0, 0), 5_000, False),  # unknown duration: no completion
            ("u1", "c2", utc(2026, 1, 9, 13, 0, 0), 200_000, True),  # the same listener again
            ("u9", "c404", utc(2026, 1, 10, 8, 0, 0), 1_000, True),  # not in the catalogue
        ],
        EVENT_SCHEMA,
    )


def test_engagement_matches_hand_computed_values(spark, content, events) -> None:  # type: ignore[no-untyped-def]
    # Per window: plays, listeners, skip rate, completion rate, save rate.
    expected = spark.createDataFrame(
        [
            ("c1", PARTITION_TS, CREATED, 2, 2, 1 / 2, 1 / 2, 1 / 2, 3, 3, 1 / 3, 2 / 3, 1 / 3,
             5, 5, 2 / 5, 2 / 5, 2 / 5),
            ("c2", PARTITION_TS, CREATED, 0, 0, None, None, None, 2, 1, 1 / 2, None, 1 / 2,
             2, 1, 1 / 2, None, 1 / 2),
            ("c3", PARTITION_TS, CREATED, 0, 0, None, None, None, 0, 0, None, None, None,
             0, 0, None, None, None),
        ],
        output_schema(CONTENT_ENGAGEMENT),
    )  # fmt: skip
    actual = content_engagement.JOB.compute(DAY, CREATED, content=content, events=events)
    assertSchemaEqual(actual.schema, expected.schema, ignoreNullable=True)
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=1e-9)


def test_an_event_at_the_partition_boundary_belongs_to_the_next_day(content, events) -> None:  # type: ignore[no-untyped-def]
    today = (
        content_engagement.JOB.compute(DAY, CREATED, content=content, events=events)
        .where("content_id = 'c1'")
        .first()
    )
    tomorrow = content_engagement.JOB.compute(date(2026, 1, 11), CREATED, content=content, events=events)
    next_day = tomorrow.where("content_id = 'c1'").first()
    assert today is not None and today["plays_1d"] == 2
    assert next_day is not None and next_day["plays_1d"] == 1


def test_later_events_never_change_a_partition(spark, content, events) -> None:  # type: ignore[no-untyped-def]
    later = spark.createDataFrame(
        [
            ("u7", "c1", utc(2026, 1, 12, 9, 0, 0), 500, True),
            ("u8", "c3", utc(2026, 1, 11, 0, 0, 0), 1, True),
        ],
        EVENT_SCHEMA,
    )
    before = content_engagement.JOB.compute(DAY, CREATED, content=content, events=events)
    after = content_engagement.JOB.compute(DAY, CREATED, content=content, events=events.unionByName(later))
    assertDataFrameEqual(after, before, checkRowOrder=False)
    creators_before = creator_profile.JOB.compute(DAY, CREATED, content=content, events=events)
    creators_after = creator_profile.JOB.compute(
        DAY, CREATED, content=content, events=events.unionByName(later)
    )
    assertDataFrameEqual(creators_after, creators_before, checkRowOrder=False)


def test_creator_profile_matches_hand_computed_values(spark) -> None:  # type: ignore[no-untyped-def]
    content = spark.createDataFrame(
        [
            _item("a1", 1, title="Chill Beats #1", release_date=DAY, explicit=True),  # uploaded today
            _item("a2", 1, title="chill  beats #2", release_date=date(2026, 1, 4)),  # 6 days ago
            _item("a3", 1, title="Other Song", release_date=date(2026, 1, 3), explicit=None),  # 7 days ago
            _item("a4", 1, title="Future", release_date=date(2026, 2, 1)),  # not released yet
            _item("a5", 1, title=None, release_date=None, explicit=True),  # release date unknown
            _item("b1", 1, title="Solo", creator_id="cr2"),  # a creator with one item
            _item("x1", 1, creator_id=""),  # no creator: belongs to nobody
            _item("x2", 1, creator_id=None),
        ],
        CONTENT_SCHEMA,
    )
    events = spark.createDataFrame(
        [
            ("u1", "a1", utc(2026, 1, 10, 1, 0, 0), 1, False),
            ("u2", "a1", utc(2026, 1, 9, 1, 0, 0), 1, False),
            ("u1", "a3", utc(2026, 1, 4, 0, 0, 0), 1, False),  # first instant of the 7-day window
            ("u1", "a2", utc(2026, 1, 3, 23, 59, 59), 1, False),  # just before it
            ("u1", "a4", utc(2026, 1, 10, 1, 0, 0), 1, False),  # an unreleased item's plays don't count
        ],
        EVENT_SCHEMA,
    )
    # cr1: a1, a2, a3, a5. Normalised titles: "chill beats" twice, "other song": 1 - 2/3.
    expected = spark.createDataFrame(
        [
            ("cr1", PARTITION_TS, CREATED, 4, 1, 2, 2 / 4, 1 - 2 / 3, (2 + 0 + 1 + 0) / 4),
            ("cr2", PARTITION_TS, CREATED, 1, 0, 0, 0.0, 0.0, 0.0),
        ],
        output_schema(CREATOR_PROFILE),
    )
    actual = creator_profile.JOB.compute(DAY, CREATED, content=content, events=events)
    assertSchemaEqual(actual.schema, expected.schema, ignoreNullable=True)
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=1e-9)
