"""The ``text_safety_lexicon`` job: offensive-lexicon terms in each item's title and description.

The counting is vectorised over Arrow batches (:mod:`content_signals.jobs.lexicon_counts`); the signal
expressions
in :data:`content_signals.definitions.TEXT_SAFETY_LEXICON` turn the counts into signals.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from content_signals.definitions import TEXT_SAFETY_LEXICON
from content_signals.jobs.inputs import Catalogue, OffensiveLexicon
from content_signals.jobs.lexicon_counts import lexicon_counts
from content_signals.jobs.signal_job import SignalJob


def base(content: DataFrame, terms: list[str]) -> DataFrame:
    """One row per item: ``text_word_count``, ``lexicon_term_count``, ``title_lexicon_term_count``.

    Words are runs of letters, digits and apostrophes (so "don't" is one word, "f*ck" is two); a
    term counts when a whole word equals a lexicon entry, case-insensitively.
    """
    return lexicon_counts(content, terms)


JOB = SignalJob(TEXT_SAFETY_LEXICON, inputs=(Catalogue(), OffensiveLexicon()), transform=base)
