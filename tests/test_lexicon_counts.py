"""Arrow-batch word and lexicon counts equal the plain-Python reference."""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterable, Set

import pyarrow as pa
import pytest
from pyspark.sql import types as T

from content_signals.jobs.lexicon_counts import lexicon_counts, with_text_stats
from content_signals.text_stats import STATS_FIELDS, count_batches, stats_batches

LEXICON = ["fuck", "shit", "hell", "Damn", "ass", "son of a bitch", "f*ck", "", "μαλάκας"]
INPUT_SCHEMA = T.StructType(
    [
        T.StructField("content_id", T.StringType()),
        T.StructField("title", T.StringType()),
        T.StructField("description", T.StringType()),
    ]
)
TERMS = frozenset(t.lower() for t in LEXICON)
COLUMNS = ["content_id", "text_word_count", "lexicon_term_count", "title_lexicon_term_count"]
_WORD = re.compile(r"(?:[^\W_]|')+")


def reference(title: str | None, description: str | None, terms: Set[str]) -> tuple[int, int, int]:
    """Words, lexicon words and title lexicon words, straight from Python's regex (``terms`` lower-cased)."""
    title_words = _WORD.findall(title.lower()) if title is not None else []
    body_words = _WORD.findall(description.lower()) if description is not None else []
    title_hits = sum(w in terms for w in title_words)
    return len(title_words) + len(body_words), title_hits + sum(w in terms for w in body_words), title_hits


def _counts(spark, rows: list[tuple[str, str | None, str | None]], lexicon: Iterable[str]):  # type: ignore[no-untyped-def]
    frame = lexicon_counts(spark.createDataFrame(rows, INPUT_SCHEMA), lexicon)
    return frame, {r.content_id: tuple(r)[1:] for r in frame.collect()}


# (content_id, title, description, words, lexicon words, lexicon words in the title), by hand.
CASES = [
    ("nulls", None, None, 0, 0, 0),
    ("empty", "", "", 0, 0, 0),
    ("blank", "   ", " \t\n ", 0, 0, 0),
    ("title only", "Hell yeah", None, 2, 1, 1),
    ("description only", None, "what the fuck", 3, 1, 0),
    ("upper case", "SHIT Happens", "DAMN it", 4, 2, 1),  # a lexicon entry given as "Damn" too
    ("apostrophes", "don't stop", "rock 'n' roll, shit's end", 7, 0, 0),  # "'n'" and "shit's" are words
    ("lone apostrophe", "' '", "it's", 3, 0, 0),
    ("punctuation splits", "f*ck this", "sh_it happens! hell_", 7, 1, 0),  # f|ck, sh|it, hell
    ("substrings", "Hello shell", "classic assassin hellfire shitty", 6, 0, 0),
    ("start and end", "fuck", "...shit!!!   hell", 3, 3, 1),
    ("repeats", "hell hell", "hell,hell;HELL", 5, 5, 2),
    ("digits", "shit2 42", "x² ½ ١٢٣ 3.14", 7, 0, 0),  # x², ½, Arabic-Indic digits are words; 3|14
    ("accents", "Café naïve", "crème brûlée ﬁne", 5, 0, 0),
    ("cjk and emoji", "日本語 テキスト", "💩shit💩 ☕hell☕", 4, 2, 0),
    ("unicode spaces", "shit\u00a0hell", "fuck\u3000shit\u2003ass", 5, 5, 2),
    ("combining mark", "he\u0301ll", "sh\u0301it", 4, 0, 0),  # a mark is not a word character
    (
        "fullwidth",
        "\uff33\uff28\uff29\uff34",
        "\uff53\uff48\uff49\uff54",
        2,
        0,
        0,
    ),  # lower-cases to fullwidth, not to "shit"
    ("dotted capital I", "SHİT", "İstanbul hell", 5, 1, 0),  # Python: "shi̇t" is shi|t
    ("greek sigma", "ΜΑΛΆΚΑΣ", "μαλάκας μαλάκασ", 3, 3, 1),  # sigmas folded: see the docstring
    ("never a word entry", "son of a bitch", "f*ck", 6, 0, 0),  # entries with spaces/punctuation
]


def test_hand_written_rows(spark) -> None:  # type: ignore[no-untyped-def]
    _, got = _counts(spark, [case[:3] for case in CASES], LEXICON)
    expected = {case[0]: case[3:] for case in CASES}
    assert got == expected


def test_hand_written_expectations_agree_with_the_python_reference() -> None:
    for content_id, title, description, *counts in CASES:
        if content_id == "greek sigma":
            # The one documented difference: for Python "μαλάκασ" (a non-final sigma at the end)
            # is not "μαλάκας"; the sigma-folded comparison counts it. The capitals hit in both.
            assert reference(title, description, TERMS) == (3, 2, 1)
            continue
        assert reference(title, description, TERMS) == tuple(counts), content_id


def test_output_columns_and_types(spark) -> None:  # type: ignore[no-untyped-def]
    frame, _ = _counts(spark, [("a", "x", None)], LEXICON)
    assert frame.columns == COLUMNS
    assert [f.dataType for f in frame.schema.fields] == [
        T.StringType(),
        T.LongType(),
        T.LongType(),
        T.LongType(),
    ]


def test_empty_lexicon_still_counts_words(spark) -> None:  # type: ignore[no-untyped-def]
    _, got = _counts(spark, [("a", "Hell yeah", "what the fuck"), ("b", None, None)], [])
    assert got == {"a": (5, 0, 0), "b": (0, 0, 0)}


_TOKENS = [
    *LEXICON[:5],
    "FUCK", "Shit", "HeLL", "damn", "hello", "shell", "assassin", "class", "don't", "shit's", "'",
    "rock'n'roll", "f*ck", "sh_it", "hell_", "42", "x²", "½", "café", "NAÏVE", "日本語", "テキスト",
    "💩", "☕", "İ", "ß", "Σ", "ς", "ﬁ", "\u0301", "\uff53\uff48\uff49\uff54", "١٢٣", "\U0001d400",
]  # fmt: skip
_SEPARATORS = [" ", "  ", ", ", ".", "!", "*", "_", "-", "\t", "\n", "\u00a0", "\u3000", "", "'"]


def _random_text(rng: random.Random) -> str | None:
    if rng.random() < 0.08:
        return None
    parts = []
    for _ in range(rng.randint(0, 12)):
        parts.append(rng.choice(_TOKENS))
        parts.append(rng.choice(_SEPARATORS))
    if rng.random() < 0.3:
        parts.insert(0, rng.choice(_SEPARATORS))
    return "".join(parts)


def test_matches_python_reference_on_pseudo_random_text(spark) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(20260101)
    rows = [(f"r{i}", _random_text(rng), _random_text(rng)) for i in range(400)]
    lexicon = LEXICON[:-1]  # no sigma in this lexicon: the reference applies exactly
    _, got = _counts(spark, rows, lexicon)
    terms = frozenset(t.lower() for t in lexicon)
    expected = {cid: reference(title, body, terms) for cid, title, body in rows}
    assert sum(e[1] for e in expected.values()) > 100  # the mix really has hits
    assert got == expected


def test_batches_sliced_and_large_strings_match_the_reference() -> None:
    """The Arrow path alone, on sliced arrays and large_string columns, across many batches."""
    rng = random.Random(7)
    rows = [(f"r{i}", _random_text(rng), _random_text(rng)) for i in range(600)]
    lexicon = LEXICON[:-1]
    table = pa.table(
        {
            "content_id": [r[0] for r in rows],
            "title": pa.array([r[1] for r in rows], type=pa.large_string()),
            "description": [r[2] for r in rows],
        }
    )
    batches = [b.slice(3, b.num_rows - 5) for b in table.to_batches(max_chunksize=97)]
    kept = [cid for b in batches for cid in b.column("content_id").to_pylist()]
    out = pa.Table.from_batches(list(count_batches(batches, lexicon)))
    assert out.column_names == COLUMNS
    by_id = {r[0]: r for r in rows}
    got = list(zip(*(out.column(c).to_pylist() for c in COLUMNS[1:]), strict=True))
    assert out.column("content_id").to_pylist() == kept
    terms = frozenset(t.lower() for t in lexicon)
    assert got == [reference(by_id[cid][1], by_id[cid][2], terms) for cid in kept]


@pytest.mark.parametrize("template", ["{}", "a{}b", "{}{}'x"])
def test_every_code_point_splits_and_lowers_like_python(template: str) -> None:
    """Each code point in a few contexts; the lexicon holds every cased letter's Python lower case."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    texts = [template.format(ch, ch) for ch in chars]
    lexicon = {ch.lower() for ch in chars if ch.lower() != ch} | {"a", "b", "ab"}
    lexicon = {w for w in lexicon if "\u03c2" not in w and "\u03c3" not in w}  # sigma: see docstring
    batch = pa.record_batch(
        [
            pa.array([str(i) for i in range(len(texts))]),
            pa.array(texts),
            pa.array([None] * len(texts), pa.string()),
        ],
        names=["content_id", "title", "description"],
    )
    out = next(count_batches([batch], lexicon))
    words = out.column("text_word_count").to_pylist()
    hits = out.column("lexicon_term_count").to_pylist()
    terms = frozenset(w.lower() for w in lexicon)
    mismatches = []
    for i, ch in enumerate(chars):
        expected = reference(texts[i], None, terms)[:2]
        if (words[i], hits[i]) != expected:
            mismatches.append((hex(ord(ch)), words[i], hits[i], expected))
    assert mismatches == []


# with_text_stats ---------------------------------------------------------------------------------

STATS_COLUMNS = [name for name, _ in STATS_FIELDS]
_EMOJI = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF))


def stats_reference(
    title: str | None, description: str | None
) -> tuple[int, int, int, int, int, int, bool, bool]:
    """:func:`with_text_stats` columns straight from Python (null counts as empty)."""
    title = (title or "").strip()
    description = description or ""
    title_words = _WORD.findall(title.lower())
    text_words = title_words + _WORD.findall(description.lower())
    return (
        len(title_words),
        len(set(title_words)),
        len(text_words),
        len(set(text_words)),
        sum(ch.isalpha() for ch in title),
        sum(ch.isupper() for ch in title),
        any(first <= ord(ch) <= last for ch in title + description for first, last in _EMOJI),
        any(mark in f"{title} {description}".lower() for mark in ("http://", "https://", "www.")),
    )


# (content_id, title, description, the eight columns), by hand.
STATS_CASES = [
    ("nulls", None, None, (0, 0, 0, 0, 0, 0, False, False)),
    ("empty", "", "", (0, 0, 0, 0, 0, 0, False, False)),
    ("blank", "  ", " \t ", (0, 0, 0, 0, 0, 0, False, False)),
    ("case repeats", "Hello hello", "HELLO world", (2, 1, 4, 2, 10, 1, False, False)),
    ("description only", None, "a b A", (0, 0, 3, 2, 0, 0, False, False)),
    ("apostrophes", " Don't don't ", "'n' DON'T it's", (2, 1, 5, 3, 8, 1, False, False)),
    ("punctuation splits", "f*ck_it", "f-ck, it.IT", (3, 3, 7, 3, 5, 0, False, False)),
    ("greek capitals", "ΚΑΛΟΣ", "καλος", (1, 1, 2, 1, 5, 5, False, False)),  # Python lowers the Σ to ς
    ("unicode letters", "ÉCOLE école", "École", (2, 1, 3, 1, 10, 5, False, False)),
    ("digits", "R2D2 r2d2 42", "x² ½", (3, 2, 5, 4, 4, 2, False, False)),
    ("emoji fire", "\N{FIRE} Hot", None, (1, 1, 1, 1, 3, 1, True, False)),
    ("emoji umbrella", "Rain", "wet \u2614", (1, 1, 2, 2, 4, 1, True, False)),
    ("url any case", "Visit HTTPS://x.io", None, (4, 4, 4, 4, 13, 6, False, True)),
    ("www in description", "Mix", "see WwW.example.com", (1, 1, 5, 5, 3, 1, False, True)),
    ("not quite a url", "http:/ www", "https:x wwwdot", (2, 2, 5, 5, 7, 0, False, False)),
    # code points just outside the emoji ranges
    ("no emoji", "Ωμέγα \u25ff", "\u2122 \u2b50 \U0001fb00", (1, 1, 1, 1, 5, 1, False, False)),
]


def _stats(spark, rows: list[tuple[str, str | None, str | None]]):  # type: ignore[no-untyped-def]
    frame = with_text_stats(spark.createDataFrame(rows, INPUT_SCHEMA))
    return frame, {r.content_id: tuple(r)[3:] for r in frame.collect()}


def test_text_stats_hand_written_rows(spark) -> None:  # type: ignore[no-untyped-def]
    frame, got = _stats(spark, [case[:3] for case in STATS_CASES])
    assert got == {case[0]: case[3] for case in STATS_CASES}
    assert frame.columns == ["content_id", "title", "description", *STATS_COLUMNS]
    assert [f.dataType for f in frame.schema.fields[3:]] == [T.LongType()] * 6 + [T.BooleanType()] * 2
    passed = {r.content_id: (r.title, r.description) for r in frame.collect()}
    assert passed == {case[0]: case[1:3] for case in STATS_CASES}


def test_text_stats_hand_written_expectations_agree_with_the_python_reference() -> None:
    for content_id, title, description, expected in STATS_CASES:
        assert stats_reference(title, description) == expected, content_id


def test_text_stats_fold_the_final_sigma(spark) -> None:  # type: ignore[no-untyped-def]
    """The documented difference: small sigma and final sigma are one letter; not for Python."""
    _, got = _stats(spark, [("s", "\u03a3 \u03c2", None)])
    assert got == {"s": (2, 1, 2, 1, 2, 1, False, False)}
    assert stats_reference("\u03a3 \u03c2", None) == (2, 2, 2, 2, 2, 1, False, False)


def test_text_stats_pass_other_columns_through(spark) -> None:  # type: ignore[no-untyped-def]
    frame = spark.createDataFrame(
        [("a", 3, "Hi hi", None, [1.5])],
        "content_id string, n int, title string, description string, xs array<double>",
    )
    out = with_text_stats(frame)
    assert out.schema.fields[:5] == frame.schema.fields
    assert tuple(out.collect()[0]) == ("a", 3, "Hi hi", None, [1.5], 2, 1, 2, 1, 4, 1, False, False)


# Without the sigmas, whose one difference from Python the docstring of with_text_stats describes.
_STATS_TOKENS = [
    *(t for t in _TOKENS if t not in {"\u03a3", "\u03c2"}),
    "Hello",
    "HELLO",
    "École",
    "ÉCOLE",
    "\N{FIRE}",
    "\u2614",
    "\u27bf",
    "\u27c0",
    "\u25ff",
]


def _random_stats_text(rng: random.Random) -> str | None:
    if rng.random() < 0.08:
        return None
    parts = []
    for _ in range(rng.randint(0, 12)):
        parts.append(rng.choice(_STATS_TOKENS))
        parts.append(rng.choice(_SEPARATORS))
    return "".join(parts)


def test_text_stats_match_python_reference_on_pseudo_random_text(spark) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(20260102)
    rows = [(f"r{i}", _random_stats_text(rng), _random_stats_text(rng)) for i in range(400)]
    _, got = _stats(spark, rows)
    expected = {cid: stats_reference(title, body) for cid, title, body in rows}
    assert 50 < sum(e[6] for e in expected.values()) < 350  # both emoji and no-emoji rows
    assert sum(e[2] - e[3] for e in expected.values()) > 100  # and repeated words
    assert got == expected


def test_text_stats_batches_sliced_and_large_strings_match_the_reference() -> None:
    rng = random.Random(11)
    rows = [(f"r{i}", _random_stats_text(rng), _random_stats_text(rng)) for i in range(600)]
    table = pa.table(
        {
            "content_id": [r[0] for r in rows],
            "title": pa.array([r[1] for r in rows], type=pa.large_string()),
            "description": [r[2] for r in rows],
        }
    )
    batches = [b.slice(3, b.num_rows - 5) for b in table.to_batches(max_chunksize=97)]
    batches.append(
        table.slice(0, 0).to_batches()[0] if table.slice(0, 0).to_batches() else batches[0].slice(0, 0)
    )
    out = pa.Table.from_batches(list(stats_batches(batches)))
    assert out.column_names == ["content_id", "title", "description", *STATS_COLUMNS]
    kept = [cid for b in batches for cid in b.column("content_id").to_pylist()]
    assert out.column("content_id").to_pylist() == kept
    by_id = {r[0]: r for r in rows}
    got = list(zip(*(out.column(c).to_pylist() for c in STATS_COLUMNS), strict=True))
    assert got == [stats_reference(by_id[cid][1], by_id[cid][2]) for cid in kept]


def test_text_stats_letters_and_upper_over_every_code_point() -> None:
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    batch = pa.record_batch(
        [pa.array(["x"] * len(chars)), pa.array(chars), pa.array([None] * len(chars), pa.string())],
        names=["content_id", "title", "description"],
    )
    out = next(stats_batches([batch]))
    got = zip(*(out.column(c).to_pylist() for c in STATS_COLUMNS[4:]), strict=True)
    mismatches = [
        (hex(ord(ch)), g) for ch, g in zip(chars, got, strict=True) if g != stats_reference(ch, None)[4:]
    ]
    assert mismatches == []
