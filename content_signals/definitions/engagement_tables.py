"""The signal tables aggregated from listening events and the catalogue: content_engagement per item
and window, creator_profile per creator."""

from __future__ import annotations

from datetime import timedelta

from content_signals.definitions.signal_types import CONTENT, CREATOR, Signal, SignalTable

# --- content_engagement -----------------------------------------------------------------------

ENGAGEMENT_WINDOWS = (1, 7, 28)
# A play under this long is a skip; one reaching this share of the item's duration is a completion.
SKIP_MS = 30_000
COMPLETION_SHARE = 0.9


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
        "duplicate titles and mean engagement, as of the partition date. Every signal but the "
        "engagement one comes from the catalogue alone."
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
            "Mean listening events per item of the creator in the 7 days ending with the partition "
            "date; null in a deployment without listening events (unknown, not zero).",
            sql="avg(plays_7d)",
            unit="plays",
            min_value=0.0,
            nullable=True,
            drift=True,
        ),
    ),
)
