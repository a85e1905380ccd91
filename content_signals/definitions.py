"""One definition per signal.

A data scientist describes a signal once, here: its meaning, unit, type and valid range. The Spark
output schema, the Great Expectations suite and the Feast feature view are all derived from these
objects, so the three can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

DType = Literal["int64", "double", "string", "bool"]

ENTITY_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"


@dataclass(frozen=True)
class Entity:
    """A thing signals describe, with the column that identifies it."""

    name: str
    join_key: str
    description: str


CONTENT = Entity(
    name="content",
    join_key="content_id",
    description="A catalogue item: a music track, a podcast episode or an audiobook.",
)


@dataclass(frozen=True)
class Signal:
    """One column of a signal table."""

    name: str
    dtype: DType
    description: str
    unit: str = ""
    min_value: float | None = None
    max_value: float | None = None
    allowed_values: tuple[str, ...] | None = None
    nullable: bool = False


@dataclass(frozen=True)
class SignalTable:
    """A set of signals computed together by one job, one row per entity per daily partition.

    ``event_timestamp`` of a row is the end of its partition date (midnight UTC of the next day):
    the moment from which the values are known, which is what point-in-time joins need.
    """

    name: str
    entity: Entity
    description: str
    signals: tuple[Signal, ...]
    # How long a value stays usable after its event timestamp. Longer than a day, so that when a
    # partition is quarantined the previous day's values keep serving.
    ttl: timedelta = field(default=timedelta(days=3))

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.entity.join_key, ENTITY_TIMESTAMP, CREATED_TIMESTAMP)

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signals)

    def signal(self, name: str) -> Signal:
        for candidate in self.signals:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no signal {name!r}")


DURATION_BUCKETS = ("under_2m", "2m_to_5m", "5m_to_20m", "20m_to_60m", "over_60m")

CONTENT_PROFILE = SignalTable(
    name="content_profile",
    entity=CONTENT,
    description=("Descriptive and engagement signals per content item, as of the end of the partition date."),
    signals=(
        Signal(
            "title_length",
            "int64",
            "Number of characters in the title after trimming whitespace; 0 when missing.",
            unit="characters",
            min_value=0,
            max_value=10_000,
        ),
        Signal(
            "description_length",
            "int64",
            "Number of characters in the description after trimming whitespace; 0 when missing.",
            unit="characters",
            min_value=0,
            max_value=1_000_000,
        ),
        Signal(
            "metadata_completeness",
            "double",
            "Share of the descriptive fields (title, description, creator, duration, explicit "
            "flag, release date) that are present and non-empty.",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
        ),
        Signal(
            "duration_seconds",
            "double",
            "Playback length.",
            unit="seconds",
            min_value=0.0,
            max_value=7 * 24 * 3600,
            nullable=True,
        ),
        Signal(
            "duration_bucket",
            "string",
            "Playback length in coarse bands; 'unknown' when the duration is missing.",
            allowed_values=(*DURATION_BUCKETS, "unknown"),
        ),
        Signal(
            "days_since_release",
            "int64",
            "Whole days from the release date to the partition date; null when the release date "
            "is unknown or later than the partition date.",
            unit="days",
            min_value=0,
            max_value=100 * 366,
            nullable=True,
        ),
        Signal(
            "is_explicit",
            "bool",
            "The explicit flag as the catalogue states it (false when missing).",
        ),
        Signal(
            "plays_1d",
            "int64",
            "Listening events on the partition date (UTC).",
            unit="plays",
            min_value=0,
        ),
        Signal(
            "plays_7d",
            "int64",
            "Listening events in the 7 days ending at the partition date (UTC), inclusive.",
            unit="plays",
            min_value=0,
        ),
        Signal(
            "listeners_7d",
            "int64",
            "Distinct users with at least one listening event in the same 7-day window.",
            unit="users",
            min_value=0,
        ),
    ),
)

TEXT_SAFETY_LEXICON = SignalTable(
    name="text_safety_lexicon",
    entity=CONTENT,
    description=(
        "A transparent text-safety baseline: offensive-lexicon terms in the title and description "
        "(content_signals/lexicons/offensive_en.txt). Model-based scores build on it later."
    ),
    signals=(
        Signal(
            "text_word_count",
            "int64",
            "Words in title + description, split on anything that is not a letter, digit or apostrophe.",
            unit="words",
            min_value=0,
        ),
        Signal(
            "lexicon_term_count",
            "int64",
            "Words of title + description that are lexicon terms (whole words, case-insensitive).",
            unit="terms",
            min_value=0,
        ),
        Signal(
            "lexicon_term_rate",
            "double",
            "lexicon_term_count / text_word_count; 0 when there is no text.",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
        ),
        Signal(
            "title_has_lexicon_term",
            "bool",
            "Whether the title alone contains a lexicon term (titles are shown everywhere).",
        ),
    ),
)

MOOD_QUADRANTS = ("energetic_positive", "energetic_negative", "calm_positive", "calm_negative")
TEMPO_BUCKETS = ("slow", "moderate", "fast", "very_fast")

CONTENT_AUDIO = SignalTable(
    name="content_audio",
    entity=CONTENT,
    description="Audio signals of tracks, from the catalogue's audio descriptors (tracks only).",
    signals=(
        Signal(
            "loudness_normalised",
            "double",
            "Integrated loudness mapped linearly from [-60 dB, 0 dB] to [0, 1] (clipped); null when unknown.",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            nullable=True,
        ),
        Signal(
            "mood_quadrant",
            "string",
            "Energy/valence quadrant, split at 0.5: energetic_positive (happy), energetic_negative "
            "(tense), calm_positive (peaceful), calm_negative (sad); 'unknown' when either is missing.",
            allowed_values=(*MOOD_QUADRANTS, "unknown"),
        ),
        Signal(
            "tempo_bucket",
            "string",
            "slow (< 90 BPM), moderate (90-120), fast (120-150), very_fast (>= 150); 'unknown' when "
            "missing or not positive.",
            allowed_values=(*TEMPO_BUCKETS, "unknown"),
        ),
        Signal(
            "is_spoken_word",
            "bool",
            "speechiness above 0.66, the level at which a recording is almost entirely speech.",
        ),
        Signal(
            "podcast_likeness",
            "double",
            "Mean of speechiness and min(duration, 60 min) / 60 min: high for long spoken tracks; "
            "null when either is unknown.",
            unit="score",
            min_value=0.0,
            max_value=1.0,
            nullable=True,
        ),
    ),
)

SIGNAL_TABLES: dict[str, SignalTable] = {
    table.name: table for table in (CONTENT_PROFILE, TEXT_SAFETY_LEXICON, CONTENT_AUDIO)
}
