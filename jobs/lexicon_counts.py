"""Spark transforms over the Arrow text kernels of :mod:`content_signals.text_stats`."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from content_signals.text_stats import LEXICON_COUNTS_SCHEMA, STATS_FIELDS, lexicon_counter, text_stats_mapper


def lexicon_counts(content: DataFrame, lexicon: Iterable[str]) -> DataFrame:
    """Words and lexicon words in each item's title and description.

    Returns ``content_id``, ``text_word_count`` (words in title + description),
    ``lexicon_term_count`` (lexicon words in title + description) and
    ``title_lexicon_term_count`` (lexicon words in the title alone). A word is a maximal run of
    letters, digits and apostrophes, as Python's ``(?:[^\\W_]|')+`` finds on the lower-cased text
    (so "don't" is one word and "f*ck" is two, "_" separates); a hit is a word equal to a
    lower-cased lexicon entry; a null title or description counts as empty.

    Checked against Python over every Unicode code point: word characters come from the driver's
    ``str.isalnum`` (not from RE2's or Arrow's possibly newer Unicode tables), words are found on
    the original text (lower-casing moves no word boundary, except that U+0130 "İ" ends a word, as
    its Python lower case "i" + U+0307 does), and Arrow's ``utf8_lower`` of a word equals
    ``str.lower`` except for one context rule. Residual difference: Python lowers a word-final
    capital sigma (U+03A3) to the final sigma U+03C2, Arrow always to U+03C3. When the lexicon
    holds either small sigma, words and entries are compared with U+03C2 folded to U+03C3, so an
    all-capitals word hits its lexicon entry as in Python; only text that uses the two small
    sigmas against the final-form rule (U+03C3 at the end of a word where the entry has U+03C2, or
    the reverse) counts a hit that Python does not.
    """
    return content.select("content_id", "title", "description").mapInArrow(
        lexicon_counter(lexicon), LEXICON_COUNTS_SCHEMA
    )


def with_text_stats(content: DataFrame) -> DataFrame:
    """``content`` with word, letter and emoji statistics of its title and description appended.

    All other columns pass through unchanged (zero-copy); appended, in this order:

    - ``title_word_count`` long, ``title_distinct_word_count`` long: words of the (trimmed) title,
      and how many differ after lower-casing;
    - ``text_word_count`` long, ``text_distinct_word_count`` long: the same over title and
      description together;
    - ``title_letter_count`` long, ``title_upper_count`` long: code points of the title that are
      letters (Python ``str.isalpha``) / upper case (``str.isupper`` of that one code point);
    - ``has_emoji`` boolean: title or description holds a code point in U+1F000..U+1FAFF or
      U+2600..U+27BF;
    - ``has_url`` boolean: title or description contains ``http://``, ``https://`` or ``www.``, in
      any case (one pyarrow RE2 match per column, instead of Spark lower-casing whole descriptions).

    A null title or description counts as empty; trimming changes none of these counts. Words are
    those of :func:`lexicon_counts` (Python's ``(?:[^\\W_]|')+`` on the lower-cased text), compared
    after Arrow's ``utf8_lower``. As there, the one residual difference from Python is the sigma:
    final sigma (U+03C2) is folded to U+03C3 before comparing, so an all-capitals word ending in
    U+03A3 and its small form ending in U+03C2 are one word, as in Python; but so are two small
    words that differ only in U+03C3 against U+03C2, which Python tells apart.
    """
    schema = T.StructType(
        [
            *content.schema.fields,
            *(
                T.StructField(name, T.LongType() if kind == "long" else T.BooleanType())
                for name, kind in STATS_FIELDS
            ),
        ]
    )
    return content.mapInArrow(text_stats_mapper(), schema)
