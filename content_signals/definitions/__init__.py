"""One definition per signal.

A data scientist describes a signal once, here: its meaning, unit, type, valid range and how it is
computed (a Spark SQL expression over its table's base columns). The job's output, the Spark
schema, the Great Expectations suite and the Feast feature view all follow from these objects, so
they can never disagree. ``docs/signals.md`` walks through adding one.

Each table's *base* is a DataFrame its job module prepares from the raw inputs (``jobs/<table>.py``,
function ``base``); its docstring lists the columns a signal expression may use. A ``row`` table
evaluates each expression once per base row (one row per entity); an ``aggregate`` table groups the
base by the entity key and evaluates each expression as an aggregate.

The package holds the types in ``signal_types`` and the tables grouped by what they are computed
from: ``catalogue_tables`` (content_metadata, content_audio), ``engagement_tables``
(content_engagement, creator_profile), ``text_tables`` (text_safety_lexicon, content_embedding,
content_safety) and ``similarity_tables`` (content_duplicates). Import every name from
``content_signals.definitions`` itself; ``SIGNAL_TABLES``
here lists every table, in the order jobs and docs use.
"""

from __future__ import annotations

from content_signals.definitions.catalogue_tables import (
    CONTENT_AUDIO,
    CONTENT_METADATA,
    DURATION_BUCKETS,
    MOOD_QUADRANTS,
    PODCAST_DURATION_MS,
    SPOKEN_WORD_SPEECHINESS,
    STUFFING_MIN_WORDS,
    TEMPO_BUCKETS,
)
from content_signals.definitions.engagement_tables import (
    COMPLETION_SHARE,
    CONTENT_ENGAGEMENT,
    CREATOR_PROFILE,
    ENGAGEMENT_WINDOWS,
    SKIP_MS,
)
from content_signals.definitions.signal_types import (
    CONTENT,
    CREATED_TIMESTAMP,
    CREATOR,
    ENTITIES,
    ENTITY_TIMESTAMP,
    SCALAR_DTYPES,
    Decision,
    DType,
    Entity,
    Grain,
    Signal,
    SignalTable,
)
from content_signals.definitions.similarity_tables import (
    BURST_MIN_DUPLICATES,
    BURST_SIMILARITY,
    BURST_WINDOW_DAYS,
    CONTENT_DUPLICATES,
    DUPLICATE_NEIGHBOURS,
    NEAR_DUPLICATE_SIMILARITY,
)
from content_signals.definitions.text_tables import (
    CONTENT_EMBEDDING,
    CONTENT_SAFETY,
    EMBEDDING_DIMENSION,
    SAFETY_DECISIONS,
    SAFETY_V2_SIGNALS,
    TEXT_SAFETY_LEXICON,
)

__all__ = [
    "BURST_MIN_DUPLICATES",
    "BURST_SIMILARITY",
    "BURST_WINDOW_DAYS",
    "COMPLETION_SHARE",
    "CONTENT",
    "CONTENT_AUDIO",
    "CONTENT_DUPLICATES",
    "CONTENT_EMBEDDING",
    "CONTENT_ENGAGEMENT",
    "CONTENT_METADATA",
    "CONTENT_SAFETY",
    "CREATED_TIMESTAMP",
    "CREATOR",
    "CREATOR_PROFILE",
    "DUPLICATE_NEIGHBOURS",
    "DURATION_BUCKETS",
    "EMBEDDING_DIMENSION",
    "ENGAGEMENT_WINDOWS",
    "ENTITIES",
    "ENTITY_TIMESTAMP",
    "MOOD_QUADRANTS",
    "NEAR_DUPLICATE_SIMILARITY",
    "PODCAST_DURATION_MS",
    "SAFETY_DECISIONS",
    "SAFETY_V2_SIGNALS",
    "SCALAR_DTYPES",
    "SIGNAL_TABLES",
    "SKIP_MS",
    "SPOKEN_WORD_SPEECHINESS",
    "STUFFING_MIN_WORDS",
    "TEMPO_BUCKETS",
    "TEXT_SAFETY_LEXICON",
    "DType",
    "Decision",
    "Entity",
    "Grain",
    "Signal",
    "SignalTable",
    "key_lookup",
]

SIGNAL_TABLES: dict[str, SignalTable] = {
    table.name: table
    for table in (
        CONTENT_METADATA,
        CONTENT_ENGAGEMENT,
        CONTENT_AUDIO,
        CREATOR_PROFILE,
        TEXT_SAFETY_LEXICON,
        CONTENT_EMBEDDING,
        CONTENT_DUPLICATES,
        CONTENT_SAFETY,
    )
}


def key_lookup(join_key: str, known_keys: tuple[str, ...]) -> tuple[SignalTable, Signal]:
    """Where to find ``join_key`` for rows that carry only ``known_keys``.

    A creator's features for a content item are found through the item's ``item_creator_id``
    signal: the same lookup serves training sets (point in time) and online reads.
    """
    for table in SIGNAL_TABLES.values():
        if table.entity.join_key not in known_keys:
            continue
        for signal in table.signals:
            if signal.references is not None and signal.references.join_key == join_key:
                return table, signal
    raise KeyError(f"no signal of a table keyed by {', '.join(known_keys)} refers to {join_key!r}")
