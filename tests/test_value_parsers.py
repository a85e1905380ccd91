"""Every value parser on hand-written cells: the spellings real files use, and what must not parse."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pyspark.sql import functions as F

from content_signals import value_parsers as V


def _parse(spark, cells: list[str | None], parser) -> list[object]:  # type: ignore[no-untyped-def]
    frame = spark.createDataFrame([(i, c) for i, c in enumerate(cells)], "i int, c string")
    return [r["v"] for r in frame.select("i", parser(F.col("c")).alias("v")).orderBy("i").collect()]


def test_booleans_in_every_common_spelling(spark) -> None:  # type: ignore[no-untyped-def]
    trues = ["true", "True", "TRUE", "t", "yes", "Yes", "y", "1", "1.0", " true "]
    falses = ["false", "False", "f", "no", "NO", "n", "0", "0.0"]
    unreadable = ["", "   ", None, "maybe", "2", "0.5", "explicit"]
    values = _parse(spark, trues + falses + unreadable, V.parse_boolean)
    assert values == [True] * len(trues) + [False] * len(falses) + [None] * len(unreadable)


def test_a_mapping_replaces_the_boolean_spellings(spark) -> None:  # type: ignore[no-untyped-def]
    values = _parse(
        spark, ["Explicit", "clean", "true", ""], lambda c: V.parse_boolean(c, ["explicit"], ["Clean"])
    )
    assert values == [True, False, None, None]


def test_numbers_with_thousands_separators_and_floats(spark) -> None:  # type: ignore[no-untyped-def]
    cells = [
        "12",
        "-3.5",
        "1e3",
        "1,234,567",
        "1 234.5",
        "1_000",
        ".5",
        "",
        " ",
        "12,34",
        "NaN",
        "inf",
        "1.2.3",
    ]
    assert _parse(spark, cells, V.parse_number) == [
        12.0, -3.5, 1000.0, 1234567.0, 1234.5, 1000.0, 0.5, None, None, None, None, None, None,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("unit", "cells", "expected"),
    [
        ("ms", ["215000", "215000.0", "215,000", "3:35", "1:02:03", "0", "-5", "", "3:75", "abc"],
         [215000, 215000, 215000, 215000, 3723000, None, None, None, None, None]),
        ("s", ["215", "215.4", "3:35", "0.0"], [215000, 215400, 215000, None]),
        ("min", ["3.5", "3:30"], [210000, 210000]),
    ],
)  # fmt: skip
def test_durations_in_ms_seconds_minutes_or_clock_time(spark, unit, cells, expected) -> None:  # type: ignore[no-untyped-def]
    assert _parse(spark, cells, lambda c: V.parse_duration_ms(c, unit)) == expected


def test_a_zero_duration_is_allowed_only_where_asked(spark) -> None:  # type: ignore[no-untyped-def]
    cells = ["0", "0:00", "0.0", "-1", "12"]
    allowed = _parse(spark, cells, lambda c: V.parse_duration_ms(c, "ms", allow_zero=True))
    assert allowed == [0, 0, 0, None, 12]
    assert _parse(spark, cells, lambda c: V.parse_duration_ms(c, "ms")) == [None, None, None, None, 12]


def test_dates_as_year_year_month_or_full_date(spark) -> None:  # type: ignore[no-untyped-def]
    cells = ["1999", "1999.0", "2001-05", "2001/5", "2019-02-08", "2019-2-8", "2019-02-08T10:00:00Z",
             "", "2001-13-45", "99", "May 2001"]  # fmt: skip
    assert _parse(spark, cells, V.parse_date) == [
        date(1999, 1, 1), date(1999, 1, 1), date(2001, 5, 1), date(2001, 5, 1), date(2019, 2, 8),
        date(2019, 2, 8), date(2019, 2, 8), None, None, None, None,
    ]  # fmt: skip
    day_first = _parse(spark, ["21/05/1999", "5/13/1999"], lambda c: V.parse_date(c, "d/M/yyyy"))
    assert day_first == [date(1999, 5, 21), None]


def test_timestamps_iso_with_offsets_and_epoch(spark) -> None:  # type: ignore[no-untyped-def]
    iso = _parse(
        spark,
        ["2026-01-05T23:59:59+02:00", "2026-01-05 10:00:00", "2026-01-05T10:00:00.5Z", "yesterday", "",
         "2026-01-05 10:00:00 +02:00", "2026-01-05T10:00", "2026-01-05", "2026-01-05 10:00Z"],
        V.parse_timestamp,
    )  # fmt: skip
    as_utc = [v.replace(tzinfo=UTC) if v is not None else None for v in iso]
    assert as_utc == [
        datetime(2026, 1, 5, 21, 59, 59, tzinfo=UTC), datetime(2026, 1, 5, 10, tzinfo=UTC),
        datetime(2026, 1, 5, 10, 0, 0, 500_000, tzinfo=UTC), None, None,
        datetime(2026, 1, 5, 8, tzinfo=UTC), datetime(2026, 1, 5, 10, tzinfo=UTC),
        datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 5, 10, tzinfo=UTC),
    ]  # fmt: skip
    seconds = _parse(spark, ["1767225600"], lambda c: V.parse_timestamp(c, "s"))
    millis = _parse(spark, ["1767225600500"], lambda c: V.parse_timestamp(c, "ms"))
    assert seconds[0].replace(tzinfo=UTC) == datetime(2026, 1, 1, tzinfo=UTC)
    assert millis[0].replace(tzinfo=UTC) == datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)


def test_lists_as_literals_delimited_or_single(spark) -> None:  # type: ignore[no-untyped-def]
    literals = [
        "['A', \"B's\"]",
        "['Guns N\\' Roses']",
        "['Tyler, The Creator']",
        "[]",
        "not a list",
        "['a', '']",
    ]
    assert _parse(spark, literals, V.parse_list) == [
        ["A", "B's"], ["Guns N' Roses"], ["Tyler, The Creator"], None, None, None,
    ]  # fmt: skip
    delimited = _parse(spark, ["A; B", "A|B", "Solo", ""], lambda c: V.parse_list(c, "delimited", ";"))
    assert delimited == [["A", "B"], ["A|B"], ["Solo"], None]
    assert _parse(spark, ["A|B "], lambda c: V.parse_list(c, "delimited", "|")) == [["A", "B"]]
    assert _parse(spark, ["Tyler, The Creator"], lambda c: V.parse_list(c, "single")) == [
        ["Tyler, The Creator"]
    ]


def test_derived_ids_are_stable_and_ignore_case_and_spacing(spark) -> None:  # type: ignore[no-untyped-def]
    rows = [("Adele", "Hello", "2015"), ("Adele", "Hello", "2015"), (" ADELE ", "hello", "2015"),
            ("Adele", "Hello", "2016"), ("Adele", "Hello", None)]  # fmt: skip
    frame = spark.createDataFrame(rows, "a string, t string, y string")
    ids = [r[0] for r in frame.select(V.derived_id([F.col("a"), F.col("t"), F.col("y")], "cs:")).collect()]
    assert ids[0] == ids[1] == ids[2]  # the same row twice, and the same values spelt differently
    assert len({ids[0], ids[3], ids[4]}) == 3
    assert all(i.startswith("cs:") and len(i) == 19 for i in ids)
    again = [r[0] for r in frame.select(V.derived_id([F.col("a"), F.col("t"), F.col("y")], "cs:")).collect()]
    assert again == ids
    # Concatenation cannot make two different rows collide: the separator is not a character of text.
    pair = spark.createDataFrame([("ab", "c"), ("a", "bc")], "a string, b string")
    assert len({r[0] for r in pair.select(V.derived_id([F.col("a"), F.col("b")], "x")).collect()}) == 2


def test_inference_reads_numbers_as_the_parser_does(spark) -> None:  # type: ignore[no-untyped-def]
    cells = ["12", "-3.5", "1e3", "1,234,567", "1 234.5", "1_000", ".5", " ", "12,34", "NaN", "inf", "1.2.3"]
    assert [V.read_number(c) for c in cells] == _parse(spark, cells, V.parse_number)
