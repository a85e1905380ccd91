"""The signal tables computed from the catalogue, one row per item: content_metadata (with its
engagement thresholds) and content_audio."""

from __future__ import annotations

from datetime import timedelta

from content_signals.definitions.signal_types import CONTENT, CREATOR, Signal, SignalTable

# --- content_metadata -------------------------------------------------------------------------

DURATION_BUCKETS = ("under_2m", "2m_to_5m", "5m_to_20m", "20m_to_60m", "over_60m")
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
