"""Text statistics on Arrow batches: words, offensive-lexicon terms, letters, emoji and URLs.

Part of the vocabulary because two stages compute the same numbers: the daily jobs over the whole
catalogue (in Spark, ``mapInArrow``) and the feature store per request (the on-demand view).

Why this module exists: ``text_safety_lexicon`` tokenised titles and descriptions in a pandas UDF
that looped over rows in Python (``count_terms``), about 5.9x the I/O floor. Here
``DataFrame.mapInArrow`` hands each Arrow ``RecordBatch`` to vectorised code, with no pandas
conversion and no per-row Python: numpy classifies every character of a column's UTF-8 buffer as
word or not (a lookup table built from Python's own ``str.isalnum``), finds where words begin and
end, and counts them per row from the Arrow offsets. The words then become one Arrow string array
over the same buffer (zero-copy), which ``pyarrow.compute`` lower-cases and looks up in the
lexicon (``is_in``); per-row hit counts are sums over those word flags. An RE2 split
(``split_pattern_regex``) was about 5x slower than the numpy pass for the same words.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LEXICON_COUNTS_SCHEMA = (
    "content_id string, text_word_count long, lexicon_term_count long, title_lexicon_term_count long"
)
_COLUMNS = ["content_id", "text_word_count", "lexicon_term_count", "title_lexicon_term_count"]

# Python lower-cases U+0130 (capital I with dot above) to "i" + U+0307, a combining mark that is
# not a word character, so a word ends right after it; Arrow's utf8_lower gives a bare "i".
_DOTTED_CAPITAL_I = 0x130
_SIGMA, _FINAL_SIGMA = "\u03c3", "\u03c2"
# Large enough to index by any value a 4-byte UTF-8 sequence can decode to, valid or not.
_TABLE_SIZE = 1 << 21


@cache
def _word_ranges() -> tuple[tuple[int, int], ...]:
    """Code point ranges that Python's ``[^\\W_]`` matches, by running it over every code point."""
    every_code_point = "".join(map(chr, range(sys.maxunicode + 1)))
    return tuple((m.start(), m.end() - 1) for m in re.finditer(r"[^\W_]+", every_code_point))


def _word_table(ranges: Iterable[tuple[int, int]]) -> np.ndarray:
    """Lookup table by code point: True for letters, digits (``isalnum``) and the apostrophe."""
    table = np.zeros(_TABLE_SIZE, dtype=np.bool_)
    for first, last in ranges:
        table[first : last + 1] = True
    table[ord("'")] = True
    return table


def _is_word(text: str) -> bool:
    return bool(text) and all(ch.isalnum() or ch == "'" for ch in text)


def _lexicon_words(lexicon: Iterable[str]) -> tuple[list[str], bool]:
    """Lower-cased lexicon entries that can equal a word, and whether sigmas must be folded.

    An entry that is not a single word (empty, or holding a space or punctuation) can never equal
    a word, exactly as in the Python reference, so it is dropped.
    """
    words = {w for w in (entry.lower() for entry in lexicon) if _is_word(w)}
    fold_sigma = any(_FINAL_SIGMA in w or _SIGMA in w for w in words)
    if fold_sigma:
        words = {w.replace(_FINAL_SIGMA, _SIGMA) for w in words}
    return sorted(words), fold_sigma


def _decode(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte position and code point of every character of a UTF-8 buffer."""
    starts = np.flatnonzero((data & 0xC0) != 0x80)
    codes = data[starts].astype(np.int32)
    multi = np.flatnonzero(codes >= 0xC0)
    if multi.size:
        at, lead, last = starts[multi], codes[multi], data.size - 1
        b1, b2, b3 = (data[np.minimum(at + k, last)].astype(np.int32) & 0x3F for k in (1, 2, 3))
        codes[multi] = np.where(
            lead < 0xE0,
            ((lead & 0x1F) << 6) | b1,
            np.where(
                lead < 0xF0,
                ((lead & 0x0F) << 12) | (b1 << 6) | b2,
                ((lead & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3,
            ),
        )
    return starts, codes


@dataclass(frozen=True)
class _Words:
    """The words of one string column, found on its UTF-8 buffer.

    Positions are character indices: ``chars`` holds each character's code point (the bytes
    themselves for an all-ASCII column, where ``char_bytes`` is None), ``bounds`` each row's first
    character (and the end), ``begins``/``ends`` each word's first and one-past-last character,
    ``first_word`` each row's first word (and the end) and ``counts`` the words per row. Null rows
    are not masked here; ``valid`` (None when there is no null) says which rows to keep.
    """

    chars: np.ndarray
    char_bytes: np.ndarray | None
    bounds: np.ndarray
    begins: np.ndarray
    ends: np.ndarray
    first_word: np.ndarray
    counts: np.ndarray
    valid: np.ndarray | None
    data_buffer: pa.Buffer
    base: int
    size: int

    def pieces(self) -> pa.LargeStringArray:
        """Every word as a string over the column's own buffer (zero-copy), a gap between each two.

        Offsets b0, e0, b1, e1, ... make pieces that alternate word, gap, word; words are the even
        pieces.
        """
        begins, ends = self.begins, self.ends
        if self.char_bytes is not None:
            char_bytes = np.append(self.char_bytes, self.size)
            begins, ends = char_bytes[begins], char_bytes[ends]
        piece_offsets = np.empty(2 * begins.size, dtype=np.int64)
        piece_offsets[0::2] = begins
        piece_offsets[1::2] = ends
        first = int(piece_offsets[0])
        piece_offsets -= first
        # Offsets from 0 over a sliced buffer: pyarrow 26's ascii_lower mishandles a non-zero first offset.
        return pa.LargeStringArray.from_buffers(
            piece_offsets.size - 1, pa.py_buffer(piece_offsets), self.data_buffer.slice(self.base + first)
        )

    def lowered(self, fold_sigma: bool) -> pa.LargeStringArray:
        """:meth:`pieces` lower-cased (final sigma folded to sigma when ``fold_sigma``)."""
        pieces = self.pieces()
        lowered = pc.ascii_lower(pieces) if self.char_bytes is None else pc.utf8_lower(pieces)
        if fold_sigma:
            lowered = pc.replace_substring(lowered, _FINAL_SIGMA, _SIGMA)
        return lowered

    def per_row(self, flags: np.ndarray) -> np.ndarray:
        """Per-row sums of a per-character flag (null rows not masked)."""
        cumulative = np.zeros(flags.size + 1, dtype=np.int64)
        np.cumsum(flags, out=cumulative[1:])
        return np.diff(cumulative[self.bounds])

    def masked(self, values: np.ndarray) -> np.ndarray:
        return values if self.valid is None else np.where(self.valid, values, 0)


def _string_parts(texts: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """``texts`` as string or large_string, and its validity (None when nothing is null)."""
    if not pa.types.is_large_string(texts.type):
        texts = texts.cast(pa.string())  # a no-op for Spark's strings; any other string type
    valid = pc.is_valid(texts).to_numpy(zero_copy_only=False) if texts.null_count else None
    return texts, valid


def _find_words(texts: pa.Array, table: np.ndarray) -> _Words | None:
    """The words of a string array, or None when it holds no character at all."""
    rows = len(texts)
    texts, valid = _string_parts(texts)
    if rows == 0 or texts.null_count == rows:
        return None
    _, offsets_buffer, data_buffer = texts.buffers()[:3]
    offset_type = np.dtype(np.int64 if pa.types.is_large_string(texts.type) else np.int32)
    offsets = np.frombuffer(
        offsets_buffer, dtype=offset_type, count=rows + 1, offset=texts.offset * offset_type.itemsize
    ).astype(np.int64)
    base = int(offsets[0])
    size = int(offsets[-1]) - base
    if size == 0 or data_buffer is None:
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8, count=size, offset=base)
    bounds = offsets - base

    # Classify characters; positions below are character indices into ``word``.
    breaks_after: np.ndarray | None = None
    if int(data.max()) < 0x80:  # ASCII: one byte per character
        chars = data
        word = table[data]
        char_bytes: np.ndarray | None = None
    else:
        char_bytes, chars = _decode(data)
        word = table[chars]
        dotted = chars == _DOTTED_CAPITAL_I
        breaks_after = dotted if dotted.any() else None
        bounds = np.searchsorted(char_bytes, bounds)
    # joins[i]: character i continues the word of character i - 1 (same row, no forced break).
    joins = np.empty_like(word)
    joins[0] = False
    np.logical_and(word[1:], word[:-1], out=joins[1:])
    if breaks_after is not None:
        joins[1:] &= ~breaks_after[:-1]
    row_starts = bounds[:-1]
    joins[row_starts[row_starts < word.size]] = False
    begins = np.flatnonzero(word & ~joins)
    ends_mask = word.copy()
    ends_mask[:-1] &= ~joins[1:]
    ends = np.flatnonzero(ends_mask) + 1
    # Words per row: word beginnings between consecutive row bounds.
    first_word = np.searchsorted(begins, bounds)
    return _Words(
        chars=chars,
        char_bytes=char_bytes,
        bounds=bounds,
        begins=begins,
        ends=ends,
        first_word=first_word,
        counts=np.diff(first_word),
        valid=valid,
        data_buffer=data_buffer,
        base=base,
        size=size,
    )


def _count_column(
    texts: pa.Array, table: np.ndarray, lexicon: pa.Array, fold_sigma: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Words and lexicon words per row of a string array (null counts as empty)."""
    found_words = _find_words(texts, table)
    if found_words is None:
        nothing = np.zeros(len(texts), dtype=np.int64)
        return nothing, nothing.copy()
    hits = np.zeros(len(texts), dtype=np.int64)
    if len(lexicon) and found_words.begins.size:
        lowered = found_words.lowered(fold_sigma)
        found = pc.is_in(lowered, value_set=lexicon).to_numpy(zero_copy_only=False)[0::2]
        cumulative = np.zeros(found.size + 1, dtype=np.int64)
        np.cumsum(found, out=cumulative[1:])
        hits = np.diff(cumulative[found_words.first_word])
    words = found_words.masked(found_words.counts)
    return words.astype(np.int64, copy=False), found_words.masked(hits).astype(np.int64, copy=False)


def _count_batches(
    batches: Iterator[pa.RecordBatch], ranges: Iterable[tuple[int, int]], lexicon: pa.Array, fold_sigma: bool
) -> Iterator[pa.RecordBatch]:
    table = _word_table(ranges)
    for batch in batches:
        title_words, title_hits = _count_column(batch.column("title"), table, lexicon, fold_sigma)
        body_words, body_hits = _count_column(batch.column("description"), table, lexicon, fold_sigma)
        yield pa.RecordBatch.from_arrays(
            [
                batch.column("content_id"),
                pa.array(title_words + body_words, type=pa.int64()),
                pa.array(title_hits + body_hits, type=pa.int64()),
                pa.array(title_hits, type=pa.int64()),
            ],
            names=_COLUMNS,
        )


def count_batches(batches: Iterable[pa.RecordBatch], lexicon: Iterable[str]) -> Iterator[pa.RecordBatch]:
    """:func:`lexicon_counter` on Arrow record batches (``content_id``, ``title``, ``description``)."""
    words, fold_sigma = _lexicon_words(lexicon)
    return _count_batches(iter(batches), _word_ranges(), pa.array(words, type=pa.large_string()), fold_sigma)


def lexicon_counter(lexicon: Iterable[str]) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A function from Arrow batches of ``content_id``, ``title``, ``description`` to batches of
    :data:`LEXICON_COUNTS_SCHEMA`, prepared on the driver (word tables from its ``str.isalnum``) so
    every executor tokenises alike. Used by the ``lexicon_counts`` Spark transform."""
    words, fold_sigma = _lexicon_words(lexicon)
    values = pa.array(words, type=pa.large_string())
    ranges = _word_ranges()

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _count_batches(batches, ranges, values, fold_sigma)

    return count


STATS_FIELDS = (
    ("title_word_count", "long"),
    ("title_distinct_word_count", "long"),
    ("text_word_count", "long"),
    ("text_distinct_word_count", "long"),
    ("title_letter_count", "long"),
    ("title_upper_count", "long"),
    ("has_emoji", "boolean"),
    ("has_url", "boolean"),
)
# A web address as the has_url signal defines it; ASCII only, so case folding cannot differ from Spark's.
_URL_PATTERN = r"https?://|www\."
_EMOJI_RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF))
_LETTER, _UPPER = 1, 2


def _ranges(flags: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Runs of True in a boolean array, as inclusive (first, last) index pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return tuple((int(a), int(b) - 1) for a, b in zip(edges[0::2], edges[1::2], strict=True))


@cache
def _letter_ranges() -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Code point ranges where Python's ``str.isalpha`` / ``str.isupper`` hold (one code point each)."""
    chars = [chr(c) for c in range(sys.maxunicode + 1)]
    letters = np.fromiter((ch.isalpha() for ch in chars), dtype=np.bool_, count=len(chars))
    upper = np.fromiter((ch.isupper() for ch in chars), dtype=np.bool_, count=len(chars))
    return _ranges(letters), _ranges(upper)


def _class_table(letters: Iterable[tuple[int, int]], upper: Iterable[tuple[int, int]]) -> np.ndarray:
    """Lookup table by code point: bit ``_LETTER`` for letters, bit ``_UPPER`` for upper case."""
    table = np.zeros(_TABLE_SIZE, dtype=np.uint8)
    for first, last in letters:
        table[first : last + 1] |= _LETTER
    for first, last in upper:
        table[first : last + 1] |= _UPPER
    return table


def _emoji_rows(found_words: _Words | None, rows: int) -> np.ndarray:
    """Rows holding a code point in one of ``_EMOJI_RANGES``."""
    has = np.zeros(rows, dtype=np.bool_)
    if found_words is None or found_words.char_bytes is None:  # nothing, or ASCII only
        return has
    chars = found_words.chars
    high = np.flatnonzero(chars >= min(first for first, _ in _EMOJI_RANGES))
    codes = chars[high]
    emoji = np.zeros(codes.size, dtype=np.bool_)
    for first, last in _EMOJI_RANGES:
        emoji |= (codes >= first) & (codes <= last)
    at = high[emoji]
    if at.size:
        has[np.searchsorted(found_words.bounds, at, side="right") - 1] = True
    return has if found_words.valid is None else has & found_words.valid


def _url_rows(texts: pa.Array) -> np.ndarray:
    """Rows whose text contains ``http://``, ``https://`` or ``www.`` in any case (null: False)."""
    found = pc.match_substring_regex(texts, _URL_PATTERN, ignore_case=True)
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _word_rows(found_words: _Words) -> np.ndarray:
    """Row of each word (words of null rows marked -1)."""
    rows = np.repeat(np.arange(found_words.counts.size, dtype=np.int64), found_words.counts)
    if found_words.valid is not None:
        rows[~found_words.valid[rows]] = -1
    return rows


def _distinct_per_row(keys: np.ndarray, vocabulary: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``row * vocabulary + id`` keys (row -1 dropped) and their count per row."""
    # Sort-based (numpy's hash-based np.unique was ~15x slower here). The keys arrive in row order,
    # so a stable sort (timsort, merging those runs) takes about a third of the default quicksort.
    keys = np.sort(keys[keys >= 0], kind="stable")
    if keys.size:
        first = np.empty(keys.size, dtype=np.bool_)
        first[0] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        keys = keys[first]
    return keys, np.bincount(keys // vocabulary, minlength=rows).astype(np.int64)


def _stats_batch(
    batch: pa.RecordBatch, word_table: np.ndarray, class_table: np.ndarray, names: list[str]
) -> pa.RecordBatch:
    rows = batch.num_rows
    title = _find_words(batch.column("title"), word_table)
    body = _find_words(batch.column("description"), word_table)
    zeros = np.zeros(rows, dtype=np.int64)
    title_words = zeros if title is None else title.masked(title.counts)
    body_words = zeros if body is None else body.masked(body.counts)
    letters, upper = zeros, zeros
    if title is not None:
        classes = class_table[title.chars]
        letters = title.masked(title.per_row((classes & _LETTER).view(np.bool_)))
        upper = title.masked(title.per_row(classes >= _UPPER))

    # Distinct words: the lower-cased words of both columns share one dictionary, and each
    # (row, word id) pair counts once.
    present = [w for w in (title, body) if w is not None and w.begins.size]
    title_distinct, text_distinct = zeros, zeros
    if present:
        fold_sigma = any(
            w.char_bytes is not None and bool((w.chars == ord(_FINAL_SIGMA)).any()) for w in present
        )
        encoded = pc.dictionary_encode(pa.chunked_array([w.lowered(fold_sigma) for w in present]))
        vocabulary = max(len(encoded.chunk(0).dictionary), 1)
        keys = [
            _word_rows(w) * vocabulary + chunk.indices.to_numpy(zero_copy_only=False)[0::2].astype(np.int64)
            for w, chunk in zip(present, encoded.chunks, strict=True)
        ]
        if title is not None and title.begins.size:
            title_keys, title_distinct = _distinct_per_row(keys[0], vocabulary, rows)
            keys[0] = title_keys
        _, text_distinct = _distinct_per_row(np.concatenate(keys), vocabulary, rows)

    emoji = _emoji_rows(title, rows) | _emoji_rows(body, rows)
    url = _url_rows(batch.column("title")) | _url_rows(batch.column("description"))
    new = [
        title_words,
        title_distinct,
        title_words + body_words,
        text_distinct,
        letters,
        upper,
    ]
    return pa.RecordBatch.from_arrays(
        [
            *batch.columns,
            *(pa.array(v, type=pa.int64()) for v in new),
            pa.array(emoji, type=pa.bool_()),
            pa.array(url, type=pa.bool_()),
        ],
        names=names,
    )


def stats_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """:func:`with_text_stats` on Arrow record batches (holding ``title`` and ``description``)."""
    return _stats_batches(iter(batches), _word_ranges(), *_letter_ranges())


def _stats_batches(
    batches: Iterator[pa.RecordBatch],
    word_ranges: Iterable[tuple[int, int]],
    letter_ranges: Iterable[tuple[int, int]],
    upper_ranges: Iterable[tuple[int, int]],
) -> Iterator[pa.RecordBatch]:
    word_table = _word_table(word_ranges)
    class_table = _class_table(letter_ranges, upper_ranges)
    for batch in batches:
        names = [*batch.schema.names, *(name for name, _ in STATS_FIELDS)]
        yield _stats_batch(batch, word_table, class_table, names)


def text_stats_mapper() -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A function from Arrow batches (any columns, with ``title`` and ``description``) to the same
    batches with :data:`STATS_FIELDS` appended, prepared on the driver like :func:`lexicon_counter`.
    Used by the ``with_text_stats`` Spark transform and, per request, by the Feast on-demand view."""
    word_ranges = _word_ranges()
    letter_ranges, upper_ranges = _letter_ranges()

    def stats(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _stats_batches(batches, word_ranges, letter_ranges, upper_ranges)

    return stats
