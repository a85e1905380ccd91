"""The signal tables read from an item's text: the offensive-lexicon baseline, the text embedding and
the safety model's scores and decision."""

from __future__ import annotations

from datetime import timedelta

from content_signals.definitions.signal_types import CONTENT, Decision, Signal, SignalTable

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
        Signal(
            "p_none",
            "double",
            "Probability of the none class (neither hateful nor offensive): with p_hate and "
            "p_offensive, one probability per category, summing to one.",
            sql="p_neither",
            unit="probability",
            min_value=0.0,
            max_value=1.0,
        ),
        Signal(
            "safety_decision_category",
            "string",
            "The category whose rule made a block or review decision (hate, offensive; 'unsafe' for "
            "versions with a single-score policy); null for allow.",
            sql="decision_category",
            nullable=True,
        ),
        Signal(
            "safety_decision_reason",
            "string",
            "The decision in one line, as a reviewer reads it: 'block: hate >= 0.912'.",
            sql="decision_reason",
        ),
        Signal(
            "explicit_suggested",
            "bool",
            "The version's policy suggests the explicit label (its offensive probability reaches the "
            "policy's explicit threshold): profanity belongs under the label, not in a block queue. "
            "False for versions whose policy has no explicit rule.",
            sql="explicit_suggested",
        ),
        Signal(
            "blocked",
            "int64",
            "1 when safety_decision is block, else 0. A key signal: its daily mean is the block rate, "
            "so a jump in it shows on the quality dashboard as drift.",
            sql="CASE WHEN safety_decision = 'block' THEN 1 ELSE 0 END",
            unit="0 or 1 (mean: block rate)",
            min_value=0,
            max_value=1,
            drift=True,
        ),
        Signal(
            "in_review",
            "int64",
            "1 when safety_decision is review, else 0: its daily mean is the review rate (a key "
            "signal, as blocked).",
            sql="CASE WHEN safety_decision = 'review' THEN 1 ELSE 0 END",
            unit="0 or 1 (mean: review rate)",
            min_value=0,
            max_value=1,
            drift=True,
        ),
    ),
)

# What safety_v2 serves of content_safety: its features as released, frozen (later signals of the
# table reach consumers through newer service versions).
SAFETY_V2_SIGNALS = ("unsafe_score", "p_hate", "p_offensive", "safety_decision", "safety_model_version")
