"""One definition per signal.

A data scientist describes a signal once, here: its meaning, unit, type, valid range and how it is
computed (a Spark SQL expression over its table's base columns). The job's output, the Spark
schema, the Great Expectations suite and the Feast feature view all follow from these objects, so
they can never disagree. ``docs/signals.md`` walks through adding one.

Each table's *base* is a DataFrame its job module prepares from the raw inputs (``jobs/<table>.py``,
function ``base``); its docstring lists the columns a signal expression may use. A ``row`` table
evaluates each expression once per base row (one row per entity); an ``aggregate`` table groups the
base by the entity key and evaluates each expression as an aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import IntEnum
from typing import Literal

DType = Literal["int64", "double", "string", "bool", "float_vector"]
# Scalar types: those with a value range, a drift profile and a place in a feature MLP's inputs.
SCALAR_DTYPES: tuple[DType, ...] = ("int64", "double", "string", "bool")
Grain = Literal["row", "aggregate"]

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
CREATOR = Entity(
    name="creator",
    join_key="creator_id",
    description="Whoever uploads catalogue items: an artist, a podcast or a publisher.",
)
ENTITIES: dict[str, Entity] = {entity.name: entity for entity in (CONTENT, CREATOR)}


@dataclass(frozen=True)
class Signal:
    """One column of a signal table: what it means, how it is computed, what values are valid."""

    name: str
    dtype: DType
    description: str
    # A Spark SQL expression over the table's base columns (an aggregate one in aggregate tables).
    sql: str
    unit: str = ""
    min_value: float | None = None
    max_value: float | None = None
    allowed_values: tuple[str, ...] | None = None
    nullable: bool = False
    # A key signal: the gate compares its mean, median and null rate with the previous partition.
    drift: bool = False
    # The value is the key of another entity (a content item's creator): training sets and online
    # reads use it to find that entity's features for rows that carry only this table's key.
    references: Entity | None = None
    # Length of every value of a ``float_vector`` signal (the gate checks it on every row).
    dimension: int | None = None

    def __post_init__(self) -> None:
        if self.dtype == "float_vector":
            if self.dimension is None or self.dimension < 1:
                raise ValueError(f"signal {self.name!r}: a float_vector needs a positive dimension")
            if self.min_value is not None or self.max_value is not None or self.allowed_values or self.drift:
                raise ValueError(
                    f"signal {self.name!r}: ranges, allowed values and drift apply to scalars only"
                )
        elif self.dimension is not None:
            raise ValueError(f"signal {self.name!r}: only a float_vector has a dimension")

    @property
    def is_vector(self) -> bool:
        return self.dtype == "float_vector"


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
    grain: Grain = "row"
    # How long a value stays usable after its event timestamp. Longer than a day, so that when a
    # partition is quarantined the previous day's values keep serving.
    ttl: timedelta = field(default=timedelta(days=3))
    # Why this TTL: shown in the signal catalogue, so consumers know how stale a value may be.
    ttl_reason: str = ""

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

    def with_signals(self, *extra: Signal) -> SignalTable:
        """This table with more signals appended (how a new signal is tried before it is added)."""
        return replace(self, signals=(*self.signals, *extra))


# --- content_metadata -------------------------------------------------------------------------

DURATION_BUCKETS = ("under_2m", "2m_to_5m", "5m_to_20m", "20m_to_60m", "over_60m")
SKIP_MS = 30_000
COMPLETION_SHARE = 0.9
STUFFING_MIN_WORDS = 10

CONTENT_METADATA = SignalTable(
    name="content_metadata",
    entity=CONTENT,
    description="What each catalogue item is and how well it is described, as of the partition date.",
    ttl=timedelta(days=7),
    ttl_reason=(
        "Descriptions change rarely; a week keeps metadata serving through a long outage of the catalogue"
        " feed, while a retired item drops out within a week."
    ),
    signals=(
        Signal(
            "title_length",
            "int64",
            "Characters in the title after trimming whitespace; 0 when missing.",
            sql="length(title_clean)",
            unit="characters",
            min_value=0,
            max_value=10_000,
        ),
        Signal(
            "description_length",
            "int64",
            "Characters in the description after trimming whitespace; 0 when missing.",
            sql="length(description_clean)",
            unit="characters",
            min_value=0,
            max_value=1_000_000,
            drift=True,
        ),
        Signal(
            "metadata_completeness",
            "double",
            "Share of the descriptive fields (title, description, creator, duration, explicit "
            "flag, release date) that are present and non-empty.",
            sql="""(
                int(length(title_clean) > 0) + int(length(description_clean) > 0)
                + int(length(trim(coalesce(creator_id, ''))) > 0) + int(duration_ms IS NOT NULL)
                + int(explicit IS NOT NULL) + int(release_date IS NOT NULL)
            ) / 6.0D""",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            drift=True,
        ),
        Signal(
            "duration_seconds",
            "double",
            "Playback length; null when unknown.",
            sql="duration_ms / 1000.0D",
            unit="seconds",
            min_value=0.0,
            max_value=7 * 24 * 3600,
            nullable=True,
        ),
        Signal(
            "duration_bucket",
            "string",
            "Playback length in coarse bands (upper bounds exclusive); 'unknown' when missing.",
            sql="""CASE WHEN duration_ms IS NULL THEN 'unknown'
                WHEN duration_ms < 120000 THEN 'under_2m' WHEN duration_ms < 300000 THEN '2m_to_5m'
                WHEN duration_ms < 1200000 THEN '5m_to_20m' WHEN duration_ms < 3600000 THEN '20m_to_60m'
                ELSE 'over_60m' END""",
            allowed_values=(*DURATION_BUCKETS, "unknown"),
        ),
        Signal(
            "days_since_release",
            "int64",
            "Whole days from the release date to the partition date; null when the release date "
            "is unknown or later than the partition date.",
            sql="CASE WHEN release_date <= partition_date THEN datediff(partition_date, release_date) END",
            unit="days",
            min_value=0,
            max_value=100 * 366,
            nullable=True,
        ),
        Signal(
            "is_explicit",
            "bool",
            "The explicit flag as the catalogue states it (false when missing).",
            sql="coalesce(explicit, false)",
        ),
        Signal(
            "language",
            "string",
            "The catalogue's language code, lower-cased; null where the catalogue carries none.",
            sql="lower(nullif(trim(language), ''))",
            nullable=True,
        ),
        Signal(
            "title_caps_ratio",
            "double",
            "Share of the title's letters that are upper case (shouting); 0 without letters.",
            sql="least(coalesce(try_divide(title_upper_count, title_letter_count), 0.0D), 1.0D)",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            drift=True,
        ),
        Signal(
            "has_url",
            "bool",
            "Title or description contains a web address (http://, https:// or www.).",
            # Substring tests: several times cheaper than a regular expression over long descriptions.
            sql="has_url",
        ),
        Signal(
            "has_emoji",
            "bool",
            "Title or description contains an emoji or pictograph.",
            sql="has_emoji",
        ),
        Signal(
            "title_has_repeated_token",
            "bool",
            "The same word appears more than once in the title (case-insensitive).",
            sql="title_distinct_word_count < title_word_count",
        ),
        Signal(
            "keyword_stuffing_score",
            "double",
            f"Share of the words of title + description that repeat an earlier word (1 - distinct / "
            f"total); 0 under {STUFFING_MIN_WORDS} words, where repetition says little.",
            sql=f"""CASE WHEN text_word_count < {STUFFING_MIN_WORDS} THEN 0.0D
                ELSE 1.0D - text_distinct_word_count / text_word_count END""",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
        ),
        Signal(
            "item_creator_id",
            "string",
            "The item's (first) creator: the key under which its creator's signals are found; "
            "null when the catalogue names none.",
            sql="nullif(trim(creator_id), '')",
            nullable=True,
            references=CREATOR,
        ),
    ),
)


# --- content_engagement -----------------------------------------------------------------------

ENGAGEMENT_WINDOWS = (1, 7, 28)


def _engagement_signals(days: int) -> tuple[Signal, ...]:
    window = (
        "on the partition date (UTC)" if days == 1 else f"in the {days} days ending with the partition date"
    )
    rate_note = "; null without plays"
    return (
        Signal(
            f"plays_{days}d",
            "int64",
            f"Listening events {window}.",
            sql=f"sum(plays_{days}d)",
            unit="plays",
            min_value=0,
            drift=days == 7,
        ),
        Signal(
            f"listeners_{days}d",
            "int64",
            f"Distinct users with at least one listening event {window}.",
            sql=f"count_if(plays_{days}d > 0)",
            unit="users",
            min_value=0,
        ),
        Signal(
            f"skip_rate_{days}d",
            "double",
            f"Share of the plays {window} that lasted under {SKIP_MS // 1000} s{rate_note}.",
            sql=f"try_divide(sum(skips_{days}d), sum(plays_{days}d))",
            drift=days == 7,
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            nullable=True,
        ),
        Signal(
            f"completion_rate_{days}d",
            "double",
            f"Share of the plays {window} that reached {COMPLETION_SHARE:.0%} of the item's duration; "
            "null without plays or without a known duration.",
            sql=f"try_divide(sum(completions_{days}d), sum(plays_{days}d))",
            drift=days == 7,
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            nullable=True,
        ),
        Signal(
            f"save_rate_{days}d",
            "double",
            f"Share of the plays {window} after which the listener saved the item{rate_note}.",
            sql=f"try_divide(sum(saves_{days}d), sum(plays_{days}d))",
            drift=days == 7,
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            nullable=True,
        ),
    )


CONTENT_ENGAGEMENT = SignalTable(
    name="content_engagement",
    entity=CONTENT,
    description=(
        "How people engage with each item over 1, 7 and 28 days ending at the partition date. "
        "Only events before the end of the partition date count."
    ),
    grain="aggregate",
    ttl=timedelta(days=3),
    ttl_reason=(
        "Engagement moves daily and ranking must not act on a stale picture: three days covers two "
        "quarantined or late partitions, and no more."
    ),
    signals=tuple(s for days in ENGAGEMENT_WINDOWS for s in _engagement_signals(days)),
)


# --- creator_profile --------------------------------------------------------------------------

CREATOR_PROFILE = SignalTable(
    name="creator_profile",
    entity=CREATOR,
    description=(
        "Each creator's catalogue and how it performs: size, upload cadence, explicit share, "
        "duplicate titles and mean engagement, as of the partition date."
    ),
    grain="aggregate",
    ttl=timedelta(days=7),
    ttl_reason=(
        "A creator's profile moves slowly; a week keeps creator context available through feed outages."
    ),
    signals=(
        Signal(
            "catalogue_size",
            "int64",
            "Items by the creator released on or before the partition date, or with no release date.",
            sql="count(1)",
            unit="items",
            min_value=1,
            drift=True,
        ),
        Signal(
            "uploads_1d",
            "int64",
            "Items released on the partition date (the catalogue's release date stands for the upload).",
            sql="count_if(released_days_ago = 0)",
            unit="items",
            min_value=0,
        ),
        Signal(
            "uploads_7d",
            "int64",
            "Items released in the 7 days ending with the partition date.",
            sql="count_if(released_days_ago < 7)",
            unit="items",
            min_value=0,
        ),
        Signal(
            "explicit_share",
            "double",
            "Share of the creator's items flagged explicit (a missing flag counts as not explicit).",
            sql="avg(CAST(coalesce(explicit, false) AS DOUBLE))",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            drift=True,
        ),
        Signal(
            "duplicate_title_rate",
            "double",
            "Share of the creator's titled items whose normalised title (lower case, letters only, "
            "single spaces) repeats another of their items: 1 - distinct / titled; 0 without titles.",
            sql="""coalesce(
                1.0D - try_divide(count(DISTINCT normalised_title), count(normalised_title)), 0.0D)""",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            drift=True,
        ),
        Signal(
            "mean_item_plays_7d",
            "double",
            "Mean listening events per item of the creator in the 7 days ending with the partition date.",
            sql="avg(plays_7d)",
            unit="plays",
            min_value=0.0,
            drift=True,
        ),
    ),
)


# --- text_safety_lexicon ----------------------------------------------------------------------

TEXT_SAFETY_LEXICON = SignalTable(
    name="text_safety_lexicon",
    entity=CONTENT,
    description=(
        "A transparent text-safety baseline: offensive-lexicon terms in the title and description "
        "(content_signals/lexicons/offensive_en.txt). Model-based scores build on it later."
    ),
    ttl=timedelta(days=3),
    ttl_reason=(
        "Safety signals must follow edits to titles and descriptions quickly: three days covers two "
        "missed partitions."
    ),
    signals=(
        Signal(
            "text_word_count",
            "int64",
            "Words in title + description, split on anything that is not a letter, digit or apostrophe.",
            sql="text_word_count",
            unit="words",
            min_value=0,
            drift=True,
        ),
        Signal(
            "lexicon_term_count",
            "int64",
            "Words of title + description that are lexicon terms (whole words, case-insensitive).",
            sql="lexicon_term_count",
            unit="terms",
            min_value=0,
        ),
        Signal(
            "lexicon_term_rate",
            "double",
            "lexicon_term_count / text_word_count; 0 when there is no text.",
            sql="CASE WHEN text_word_count > 0 THEN lexicon_term_count / text_word_count ELSE 0.0D END",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            drift=True,
        ),
        Signal(
            "title_has_lexicon_term",
            "bool",
            "Whether the title alone contains a lexicon term (titles are shown everywhere).",
            sql="title_lexicon_term_count > 0",
        ),
    ),
)


# --- content_audio ----------------------------------------------------------------------------

MOOD_QUADRANTS = ("energetic_positive", "energetic_negative", "calm_positive", "calm_negative")
TEMPO_BUCKETS = ("slow", "moderate", "fast", "very_fast")
SPOKEN_WORD_SPEECHINESS = 0.66
PODCAST_DURATION_MS = 3_600_000

CONTENT_AUDIO = SignalTable(
    name="content_audio",
    entity=CONTENT,
    description="Audio signals of tracks, from the catalogue's audio descriptors (tracks only).",
    ttl=timedelta(days=7),
    ttl_reason=(
        "Audio features change only when the audio is re-analysed; a week tolerates a long gap in the "
        "analysis feed."
    ),
    signals=(
        Signal(
            "loudness_normalised",
            "double",
            "Integrated loudness mapped linearly from [-60 dB, 0 dB] to [0, 1] (clipped); null when unknown.",
            # greatest/least skip nulls, so an unknown loudness is kept null explicitly.
            sql="""CASE WHEN loudness_db IS NOT NULL
                THEN least(greatest((loudness_db + 60.0D) / 60.0D, 0.0D), 1.0D) END""",
            unit="fraction",
            min_value=0.0,
            max_value=1.0,
            nullable=True,
            drift=True,
        ),
        Signal(
            "mood_quadrant",
            "string",
            "Energy/valence quadrant, split at 0.5: energetic_positive (happy), energetic_negative "
            "(tense), calm_positive (peaceful), calm_negative (sad); 'unknown' when either is missing.",
            sql="""CASE WHEN energy IS NULL OR valence IS NULL THEN 'unknown'
                WHEN energy >= 0.5D AND valence >= 0.5D THEN 'energetic_positive'
                WHEN energy >= 0.5D THEN 'energetic_negative'
                WHEN valence >= 0.5D THEN 'calm_positive' ELSE 'calm_negative' END""",
            allowed_values=(*MOOD_QUADRANTS, "unknown"),
        ),
        Signal(
            "tempo_bucket",
            "string",
            "slow (< 90 BPM), moderate (90-120), fast (120-150), very_fast (>= 150); 'unknown' when "
            "missing or not positive.",
            sql="""CASE WHEN tempo_bpm IS NULL OR tempo_bpm <= 0 THEN 'unknown'
                WHEN tempo_bpm < 90 THEN 'slow' WHEN tempo_bpm < 120 THEN 'moderate'
                WHEN tempo_bpm < 150 THEN 'fast' ELSE 'very_fast' END""",
            allowed_values=(*TEMPO_BUCKETS, "unknown"),
        ),
        Signal(
            "is_spoken_word",
            "bool",
            f"speechiness above {SPOKEN_WORD_SPEECHINESS}, the level at which a recording is almost "
            "entirely speech.",
            sql=f"coalesce(speechiness > {SPOKEN_WORD_SPEECHINESS}, false)",
        ),
        Signal(
            "podcast_likeness",
            "double",
            "Mean of speechiness and min(duration, 60 min) / 60 min: high for long spoken tracks; "
            "null when either is unknown.",
            sql=f"(speechiness + least(duration_ms / {PODCAST_DURATION_MS}.0D, 1.0D)) / 2.0D",
            unit="score",
            min_value=0.0,
            max_value=1.0,
            nullable=True,
            drift=True,
        ),
    ),
)

# --- content_embedding ------------------------------------------------------------------------

# all-MiniLM-L6-v2, the default text encoder; another encoder must have the same dimension.
EMBEDDING_DIMENSION = 384

CONTENT_EMBEDDING = SignalTable(
    name="content_embedding",
    entity=CONTENT,
    description=(
        "What each item's title and description say, as a sentence embedding: for similarity, "
        "clustering and as the input of text models (content_safety is computed from it)."
    ),
    ttl=timedelta(days=7),
    ttl_reason=(
        "Text changes rarely and an embedding is only recomputed when it does; a week keeps vectors "
        "serving through a long outage of the encoder job."
    ),
    signals=(
        Signal(
            "text_embedding",
            "float_vector",
            "Unit-length sentence embedding of title + description (joined with '. ') by the "
            "configured text encoder (all-MiniLM-L6-v2 by default).",
            sql="text_embedding",
            unit="unit vector",
            dimension=EMBEDDING_DIMENSION,
        ),
        Signal(
            "embedded_text_fingerprint",
            "string",
            "First 16 hex digits of SHA-256 over the encoder's weights digest and the embedded text: "
            "while it is unchanged, a later partition reuses the vector instead of encoding again.",
            sql="embedded_text_fingerprint",
        ),
    ),
)


# --- content_safety ---------------------------------------------------------------------------

class Decision(IntEnum):
    """What happens to an item. The numbers are content_signals.v1.Decision's on the wire; the
    lower-cased names are what the ``safety_decision`` signal stores. The rule that picks one is
    :func:`content_signals.models.decisions.decide`, the only place it is written."""

    UNSPECIFIED = 0
    ALLOW = 1
    REVIEW = 2
    BLOCK = 3

    @property
    def label(self) -> str:
        return self.name.lower()


SAFETY_DECISIONS = tuple(d.label for d in Decision if d is not Decision.UNSPECIFIED)

CONTENT_SAFETY = SignalTable(
    name="content_safety",
    entity=CONTENT,
    description=(
        "The safety model's view of each item's text: class probabilities (hate, offensive, neither; "
        "trained on labelled tweets), the unsafe score and the decision its thresholds give. "
        "Computed from the same day's content_embedding."
    ),
    ttl=timedelta(days=3),
    ttl_reason=(
        "Moderation acts on these: three days covers two missed partitions, and an edited title is "
        "rescored within a day."
    ),
    signals=(
        Signal(
            "unsafe_score",
            "double",
            "1 - P(neither): the probability that the text is hateful or offensive.",
            sql="1.0D - p_neither",
            unit="probability",
            min_value=0.0,
            max_value=1.0,
            drift=True,
        ),
        Signal(
            "p_hate",
            "double",
            "Probability of the hate class.",
            sql="p_hate",
            unit="probability",
            min_value=0.0,
            max_value=1.0,
        ),
        Signal(
            "p_offensive",
            "double",
            "Probability of the offensive (but not hateful) class.",
            sql="p_offensive",
            unit="probability",
            min_value=0.0,
            max_value=1.0,
            drift=True,
        ),
        Signal(
            "safety_decision",
            "string",
            "block at or above the model version's block threshold, review at or above its review "
            "threshold, else allow (thresholds chosen on validation data, stored with the version).",
            # Computed by the job with content_signals.models.decisions.decide, as Score decides.
            sql="safety_decision",
            allowed_values=SAFETY_DECISIONS,
        ),
        Signal(
            "safety_model_version",
            "string",
            "The safety model version that scored the item (the promoted one, else the newest).",
            sql="model_version",
        ),
    ),
)

SIGNAL_TABLES: dict[str, SignalTable] = {
    table.name: table
    for table in (
        CONTENT_METADATA,
        CONTENT_ENGAGEMENT,
        CONTENT_AUDIO,
        CREATOR_PROFILE,
        TEXT_SAFETY_LEXICON,
        CONTENT_EMBEDDING,
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
