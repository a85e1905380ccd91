"""The content_metadata transform on hand-written rows with hand-computed values."""

from __future__ import annotations

from datetime import date

from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from content_signals.definitions import CONTENT_METADATA
from content_signals.jobs import content_metadata
from content_signals.partitions import output_schema
from tests.rows import CONTENT_SCHEMA, CREATED, DAY, PARTITION_TS

SPAM_TITLE = "FREE BEATS free \N{FIRE}"
SPAM_DESCRIPTION = "beats beats beats beats beats beats beats beats visit www.beats.example "


def test_signals_match_hand_computed_values(spark) -> None:  # type: ignore[no-untyped-def]
    content = spark.createDataFrame(
        [
            ("c1", "track", "  Hello World ", "abc", "cr1", 125_000, True, date(2026, 1, 1), " EN "),
            # Nothing but a creator; released after the partition date.
            ("c2", "episode", None, "   ", "cr1", None, None, date(2026, 2, 1), None),
            # Exactly one hour long, released on the partition date: shouting, emoji, a link, stuffing.
            ("c3", "audiobook", SPAM_TITLE, SPAM_DESCRIPTION, "cr2", 3_600_000, False, DAY, "sv"),
            # Unicode case: 5 of 10 letters upper case; the same word twice; an https link.
            ("c4", "track", "ÉCOLE école", "see https://x.example", "cr2", 0, False, DAY, ""),
        ],
        CONTENT_SCHEMA,
    )
    # c3: title words free, beats, free; description adds 8 x beats, visit, www, beats, example:
    # 15 words, 5 distinct. Title letters: 13, 9 of them upper case.
    expected = spark.createDataFrame(
        [
            ("c1", PARTITION_TS, CREATED, 11, 3, 1.0, 125.0, "2m_to_5m", 9, True, "en",
             2 / 10, False, False, False, 0.0, "cr1"),
            ("c2", PARTITION_TS, CREATED, 0, 0, 2 / 6, None, "unknown", None, False, None,
             0.0, False, False, False, 0.0, "cr1"),
            ("c3", PARTITION_TS, CREATED, len(SPAM_TITLE), len(SPAM_DESCRIPTION.strip()), 1.0, 3600.0,
             "over_60m", 0, False, "sv", 9 / 13, True, True, True, 1 - 5 / 15, "cr2"),
            ("c4", PARTITION_TS, CREATED, 11, 21, 1.0, 0.0, "under_2m", 0, False, None,
             5 / 10, True, False, True, 0.0, "cr2"),
        ],
        output_schema(CONTENT_METADATA),
    )  # fmt: skip
    actual = content_metadata.JOB.compute(DAY, CREATED, content=content)
    assertSchemaEqual(actual.schema, expected.schema, ignoreNullable=True)
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=1e-9)


def test_duration_buckets_cover_every_band(spark) -> None:  # type: ignore[no-untyped-def]
    durations = [0, 119_999, 120_000, 299_999, 300_000, 1_199_999, 1_200_000, 3_599_999, 3_600_000]
    rows = [
        (f"d{i}", "track", "t", "d", "cr", ms, False, date(2025, 1, 1), "en")
        for i, ms in enumerate(durations)
    ]
    result = content_metadata.JOB.compute(DAY, CREATED, content=spark.createDataFrame(rows, CONTENT_SCHEMA))
    buckets = [r["duration_bucket"] for r in result.orderBy("duration_seconds").collect()]
    assert buckets == [
        "under_2m", "under_2m", "2m_to_5m", "2m_to_5m", "5m_to_20m",
        "5m_to_20m", "20m_to_60m", "20m_to_60m", "over_60m",
    ]  # fmt: skip


def test_a_catalogue_without_language_gets_null_language(spark) -> None:  # type: ignore[no-untyped-def]
    content = spark.createDataFrame(
        [("c1", "track", "t", None, "cr", 1, None, None, "en")], CONTENT_SCHEMA
    ).drop("language")
    [row] = content_metadata.JOB.compute(DAY, CREATED, content=content).collect()
    assert row["language"] is None and row["metadata_completeness"] == 3 / 6
