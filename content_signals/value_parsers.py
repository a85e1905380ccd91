"""How cells of a real data file become typed values: one Spark column expression per kind of value.

Real files write the same value many ways: ``True`` / ``1.0`` / ``yes`` for a flag, ``215000`` /
``215.0`` / ``3:35`` for a duration, ``1999`` / ``1999-05`` / ``1999-05-21`` for a release date,
``1,234,567`` for a count. Every importer (catalogues, listening events) parses its cells with these
functions, so a spelling accepted in one file is accepted in every file. Each returns null where a
cell cannot be read, never a guess; the importer turns that null into a counted reject reason.

Empty and whitespace-only cells are null before any parser sees them (:func:`blank_to_null`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pyspark.sql import Column
from pyspark.sql import functions as F

# Case-insensitive spellings of a flag. A mapping may replace either list (a file that writes
# ``Y`` / ``N``, or ``explicit`` / ``clean``).
TRUE_SPELLINGS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_SPELLINGS = ("false", "f", "no", "n", "0", "0.0")

DurationUnit = Literal["ms", "s", "min"]
TimestampUnit = Literal["iso", "s", "ms"]
ListFormat = Literal["python", "delimited", "single"]

_MS_PER_UNIT = {"ms": 1.0, "s": 1_000.0, "min": 60_000.0}
# 1,234,567 / 1 234 567 / 1_234_567 (and a decimal part after a point): thousands separators.
# The same patterns read numbers in Spark (parse_number) and in Python (read_number, for --infer).
THOUSANDS_SEPARATOR = r"[, _]"
GROUPED_NUMBER = rf"^[+-]?\d{{1,3}}({THOUSANDS_SEPARATOR}\d{{3}})+(\.\d+)?$"
PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# h:mm:ss or m:ss (minutes may exceed 59 when there is no hour part), seconds may have a fraction.
_CLOCK = r"^(\d+:)?\d+:[0-5]\d(\.\d+)?$"


def blank_to_null(cell: Column) -> Column:
    """The cell trimmed, or null when nothing is left (a blank cell is a missing value)."""
    trimmed = F.trim(cell)
    return F.when(trimmed != "", trimmed)


def parse_boolean(
    cell: Column,
    true_spellings: Sequence[str] = TRUE_SPELLINGS,
    false_spellings: Sequence[str] = FALSE_SPELLINGS,
) -> Column:
    """True / False from any of the spellings (case-insensitive); null for anything else."""
    text = F.lower(blank_to_null(cell))
    trues = [s.strip().lower() for s in true_spellings]
    falses = [s.strip().lower() for s in false_spellings]
    return F.when(text.isin(*trues), F.lit(True)).when(text.isin(*falses), F.lit(False))


def parse_number(cell: Column) -> Column:
    """A double from ``12``, ``-3.5``, ``1e3`` or ``1,234,567.5`` (thousands separators ``,``,
    space or ``_``); null for anything else, including ``NaN`` and infinities."""
    text = blank_to_null(cell)
    ungrouped = F.when(text.rlike(GROUPED_NUMBER), F.regexp_replace(text, THOUSANDS_SEPARATOR, "")).otherwise(
        text
    )
    value = F.when(ungrouped.rlike(PLAIN_NUMBER), ungrouped.try_cast("double"))
    return F.when(~F.isnan(value), value)


def read_number(text: str) -> float | None:
    """:func:`parse_number` of one cell, in Python: what ``--infer`` reads a sample with."""
    cell = text.strip()
    if re.match(GROUPED_NUMBER, cell):
        cell = re.sub(THOUSANDS_SEPARATOR, "", cell)
    return float(cell) if re.match(PLAIN_NUMBER, cell) else None


def parse_duration_ms(cell: Column, unit: DurationUnit = "ms", allow_zero: bool = False) -> Column:
    """Milliseconds (a long) from a number in ``unit`` (``215000``, ``215.4`` s, ``3.6`` min) or a
    clock time (``3:35``, ``1:02:03``, whatever the unit); null when unreadable, negative, or zero
    unless ``allow_zero`` (an item lasts a while; a play may be skipped at once)."""
    text = blank_to_null(cell)
    parts = F.split(text, ":")
    n = F.size(parts)
    seconds = F.element_at(parts, -1).try_cast("double")
    minutes = F.element_at(parts, -2).try_cast("double")
    hours = F.when(n == 3, F.element_at(parts, 1).try_cast("double")).otherwise(F.lit(0.0))
    clock_ms = (hours * 3600 + minutes * 60 + seconds) * 1000
    number_ms = parse_number(text) * F.lit(_MS_PER_UNIT[unit])
    ms = F.when(text.rlike(_CLOCK), clock_ms).otherwise(number_ms)
    return F.when((ms > 0) | (F.lit(allow_zero) & (ms == 0)), F.round(ms).cast("long"))


def parse_date(cell: Column, pattern: str | None = None) -> Column:
    """A date from ``YYYY`` (1 January), ``YYYY-MM`` (the 1st), ``YYYY-MM-DD``, an ISO timestamp
    (its date), a year written as a float (``1999.0``), or, with ``pattern``, a Spark datetime
    pattern such as ``dd/MM/yyyy``; null for anything else (``2001-13-45`` included)."""
    text = blank_to_null(cell)
    if pattern is not None:
        return F.try_to_date(text, pattern)
    full = (
        F.when(text.rlike(r"^\d{4}(\.0+)?$"), F.concat(F.substring(text, 1, 4), F.lit("-01-01")))
        .when(text.rlike(r"^\d{4}[-/]\d{1,2}$"), F.concat(F.regexp_replace(text, "/", "-"), F.lit("-01")))
        .when(
            text.rlike(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}([ T].*)?$"),
            F.regexp_replace(F.split(text, "[ T]")[0], "/", "-"),
        )
    )
    return F.try_to_date(full, "yyyy-M-d")


def parse_timestamp(cell: Column, unit: TimestampUnit = "iso") -> Column:
    """A UTC timestamp from an ISO-8601 string (``2026-01-05T10:00:00Z``, ``2026-01-05 10:00:00``,
    with or without an offset; no offset means UTC) or from seconds / milliseconds since the Unix
    epoch; null when unreadable."""
    text = blank_to_null(cell)
    if unit == "iso":
        # 2026-01-05 10:00 +02:00 -> 2026-01-05T10:00:00+02:00; a bare date is its midnight.
        spaced = F.regexp_replace(text, r"^(\d{4}-\d{1,2}-\d{1,2})(?:[ T]+|$)", "$1T")
        attached = F.regexp_replace(spaced, r" +([+-]\d{2}:?\d{2}|Z)$", "$1")
        with_seconds = F.regexp_replace(attached, r"T(\d{1,2}:\d{2})(?=$|[+-]|Z)", "T$1:00")
        dated = F.regexp_replace(with_seconds, r"T$", "T00:00:00")
        normalised = F.regexp_replace(dated, "Z$", "+00:00")
        with_zone = F.when(normalised.rlike(r"([+-]\d{2}:?\d{2})$"), normalised).otherwise(
            F.concat(normalised, F.lit("+00:00"))
        )
        return F.try_to_timestamp(with_zone)
    seconds = parse_number(text) / F.lit(1.0 if unit == "s" else 1000.0)
    return F.timestamp_micros(F.round(seconds * 1_000_000).cast("long"))


def parse_list(cell: Column, list_format: ListFormat = "python", separator: str = ";") -> Column:
    """A list of trimmed strings from a Python list literal (``['A', "B's"]``), a delimited string
    (``A; B``), or a single value (``A``); null when unreadable, empty, or with an empty element."""
    text = blank_to_null(cell)
    if list_format == "single":
        items = F.array(text)
    elif list_format == "delimited":
        items = F.transform(F.split(text, _literal_regex(separator), -1), _trimmed)
    else:
        items = _python_list(text)
    return F.when(
        text.isNotNull() & (F.size(items) > 0) & ~F.exists(items, lambda v: v == ""),
        items,
    )


def _python_list(text: Column) -> Column:
    """Elements of a list literal of quoted strings (or bare numbers); null if it is not one.

    Done with a regular expression in the JVM rather than ``ast.literal_eval`` in Python: a
    Python UDF per row costs a worker round trip, and a catalogue cell is always this simple shape.
    """
    value = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[-+\w.]+"""  # 'quoted', "quoted" or bare
    element = rf"\s*(?:{value})\s*"
    whole = rf"^\[\s*(?:{element}(?:,{element})*,?)?\s*\]$"
    raw = F.regexp_extract_all(text, F.lit(f"({value})"), 1)
    unquoted = F.transform(
        raw,
        lambda v: F.regexp_replace(
            F.when(v.rlike(r"""^(['"]).*\1$"""), v.substr(F.lit(2), F.length(v) - 2)).otherwise(v),
            r"\\(.)",
            "$1",
        ),
    )
    return F.when(text.rlike(whole), F.transform(unquoted, _trimmed))


def _trimmed(value: Column) -> Column:
    """``F.trim`` of one argument: ``F.transform`` passes a two-argument function the element's
    index as well, and ``F.trim`` would take it as the characters to trim."""
    return F.trim(value)


def _literal_regex(text: str) -> str:
    """``text`` as a regular expression that matches it literally (Spark's split takes a regex)."""
    return "".join(f"\\{c}" if not c.isalnum() and c != " " else c for c in text)


def normalised_key(cell: Column) -> Column:
    """The form of a cell that identity is built from: lower case, whitespace runs collapsed to one
    space, trimmed; empty for null (so a missing year still yields a stable id)."""
    return F.coalesce(F.trim(F.regexp_replace(F.lower(cell), r"\s+", " ")), F.lit(""))


def derived_id(cells: Sequence[Column], prefix: str) -> Column:
    """A stable id from the normalised values of ``cells``: ``prefix`` + 16 hex digits of the
    SHA-256 of the values joined by the unit separator.

    The same values always give the same id, in every file and every run, so re-importing a file
    (or a newer version of it) updates items instead of duplicating them. 64 bits make an
    accidental clash between different values negligible below billions of items; two rows with
    the *same* values get the same id on purpose, and the importer reports them as collisions.
    """
    joined = F.concat_ws("\u001f", *[normalised_key(c) for c in cells])
    return F.concat(F.lit(prefix), F.substring(F.sha2(joined, 256), 1, 16))
