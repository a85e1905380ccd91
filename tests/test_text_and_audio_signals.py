"""The text_safety_lexicon and content_audio transforms on hand-written rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from content_signals.definitions import CONTENT_AUDIO, TEXT_SAFETY_LEXICON
from content_signals.jobs import content_audio, text_safety_lexicon
from content_signals.partitions import output_schema
from tests.rows import CONTENT_SCHEMA

DAY = date(2026, 1, 10)
CREATED = datetime(2026, 1, 11, 3, 0, tzinfo=UTC)
PARTITION_TS = datetime(2026, 1, 11, tzinfo=UTC)
AUDIO_SCHEMA = T.StructType(
    [T.StructField("content_id", T.StringType())]
    + [
        T.StructField(name, T.DoubleType())
        for name in (
            "loudness_db", "energy", "valence", "tempo_bpm", "speechiness",
            "danceability", "acousticness", "instrumentalness", "liveness",
        )
    ]
)  # fmt: skip


def _item(content_id: str, title: str | None, description: str | None, kind: str = "track", ms: int = 0):  # type: ignore[no-untyped-def]
    return (content_id, kind, title, description, "cr", ms, False, date(2025, 1, 1), "en")


def test_lexicon_terms_are_whole_words_matched_case_insensitively(spark) -> None:  # type: ignore[no-untyped-def]
    content = spark.createDataFrame(
        [
            _item("t1", "Damn Fine Coffee", "what the HELL, hello shellfish"),  # 2 of 8; title has one
            _item("t2", "", ""),  # no text at all
            _item("t3", None, "Scunthorpe damnation hello"),  # substrings never count
            _item("t4", "don't stop", None),  # an apostrophe keeps a word whole
            _item("t5", "crap!!!crap", "   "),  # punctuation separates words
        ],
        CONTENT_SCHEMA,
    )
    expected = spark.createDataFrame(
        [
            ("t1", PARTITION_TS, CREATED, 8, 2, 2 / 8, True),
            ("t2", PARTITION_TS, CREATED, 0, 0, 0.0, False),
            ("t3", PARTITION_TS, CREATED, 3, 0, 0.0, False),
            ("t4", PARTITION_TS, CREATED, 2, 0, 0.0, False),
            ("t5", PARTITION_TS, CREATED, 2, 2, 1.0, True),
        ],
        output_schema(TEXT_SAFETY_LEXICON),
    )
    actual = text_safety_lexicon.JOB.compute(
        DAY, CREATED, content=content, terms=["damn", "hell", "crap", "Cunt"]
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=1e-9)


def test_audio_signals_for_tracks_only(spark) -> None:  # type: ignore[no-untyped-def]
    content = spark.createDataFrame(
        [
            _item("a1", "t", "d", "track", 180_000),
            _item("a2", "t", "d", "track", 7_200_000),  # two hours: duration share capped at 1
            _item("a3", "t", "d", "track", 240_000),
            _item("e1", "t", "d", "episode", 3_600_000),  # not a track: no row
            _item("a4", "t", "d", "track", 200_000),  # no audio descriptors: no row
        ],
        CONTENT_SCHEMA,
    )
    audio = spark.createDataFrame(
        [
            ("a1", -6.0, 0.8, 0.7, 128.0, 0.05, 0.5, 0.1, 0.0, 0.1),
            ("a2", -70.0, 0.2, 0.1, 89.9, 0.9, 0.1, 0.9, 0.0, 0.1),
            ("a3", None, None, 0.6, 0.0, None, None, None, None, None),
            ("e1", -10.0, 0.5, 0.5, 100.0, 0.95, 0.1, 0.1, 0.0, 0.1),
        ],
        AUDIO_SCHEMA,
    )
    expected = spark.createDataFrame(
        [
            ("a1", PARTITION_TS, CREATED, 54 / 60, "energetic_positive", "fast", False, (0.05 + 0.05) / 2),
            ("a2", PARTITION_TS, CREATED, 0.0, "calm_negative", "slow", True, (0.9 + 1.0) / 2),
            ("a3", PARTITION_TS, CREATED, None, "unknown", "unknown", False, None),
        ],
        output_schema(CONTENT_AUDIO),
    )
    actual = content_audio.JOB.compute(DAY, CREATED, content=content, audio=audio)
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=1e-9)


def test_mood_and_tempo_boundaries(spark) -> None:  # type: ignore[no-untyped-def]
    rows = [
        ("b1", -10.0, 0.5, 0.5, 90.0, 0.66, 0, 0, 0, 0),
        ("b2", -10.0, 0.5, 0.49, 120.0, 0.661, 0, 0, 0, 0),
        ("b3", -10.0, 0.49, 0.5, 150.0, 0.1, 0, 0, 0, 0),
        ("b4", -10.0, 0.49, 0.49, 149.9, 0.1, 0, 0, 0, 0),
    ]
    audio = spark.createDataFrame(
        [tuple(float(v) if i else v for i, v in enumerate(r)) for r in rows], AUDIO_SCHEMA
    )
    content = spark.createDataFrame([_item(r[0], "t", "d", "track", 60_000) for r in rows], CONTENT_SCHEMA)
    result = {
        r["content_id"]: r
        for r in content_audio.JOB.compute(DAY, CREATED, content=content, audio=audio).collect()
    }
    assert [result[k]["mood_quadrant"] for k in ("b1", "b2", "b3", "b4")] == [
        "energetic_positive", "energetic_negative", "calm_positive", "calm_negative",
    ]  # fmt: skip
    assert [result[k]["tempo_bucket"] for k in ("b1", "b2", "b3", "b4")] == [
        "moderate",
        "fast",
        "very_fast",
        "fast",
    ]
    assert [result[k]["is_spoken_word"] for k in ("b1", "b2")] == [False, True]
