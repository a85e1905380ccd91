"""The signal tables read from the nearest neighbours of each item's text embedding: near-duplicates,
same-creator bursts and possible re-uploads (``docs/near-duplicates.md``)."""

from __future__ import annotations

from datetime import timedelta

from content_signals.definitions.signal_types import CONTENT, Signal, SignalTable

# Two items whose text embeddings (title + description, unit vectors) have a cosine similarity at
# or above this are near-duplicates. Chosen from measured similarities (docs/near-duplicates.md):
# in a hand-labelled sample of real musicoset title pairs at or above 0.90, every pair of different
# titles (unrelated songs: "Stand By Me" / "Stand By You") was below 0.95 and every pair of the same
# title or the same song in another version was at or above it; unrelated synthetic items reach it
# only when their texts are (almost) identical.
NEAR_DUPLICATE_SIMILARITY = 0.95
# How many nearest neighbours of each item are looked at: near-duplicate counts are capped by it,
# while group sizes (connected lookalikes) are not.
DUPLICATE_NEIGHBOURS = 20
# A burst: lookalikes by the item's own creator released at most this many days before or after
# the item (both release dates known).
BURST_WINDOW_DAYS = 7
# What counts as a lookalike in a burst: a lower similarity than a near-duplicate, because the
# same creator and the same week already make a coincidence rare, and spam uploads are templates
# with varied text (keyword-stuffed descriptions), not copies. Measured on the synthetic catalogue
# (docs/near-duplicates.md): is_burst at 0.80 flags 437 items, all planted spam (precision 1.00,
# recall 0.68), against 60 (recall 0.09) at the near-duplicate threshold.
BURST_SIMILARITY = 0.80
# An item is in a burst when at least this many same-creator near-duplicates fall in its window
# (with the item itself, three lookalikes in about a week: one re-release is no burst).
BURST_MIN_DUPLICATES = 2

CONTENT_DUPLICATES = SignalTable(
    name="content_duplicates",
    entity=CONTENT,
    description=(
        "Near-duplicates of each item among its nearest neighbours by text embedding (the day's "
        "vector index of content_embedding): how many, how large their group, whether the creator "
        "uploaded them in a burst, and whether another creator released the same text earlier."
    ),
    ttl=timedelta(days=7),
    ttl_reason=(
        "Computed from content_embedding, whose vectors serve for a week; duplicates change only "
        "when the catalogue does."
    ),
    signals=(
        Signal(
            "nearest_neighbour_id",
            "string",
            "The content_id of the most similar other item; null when the catalogue has no other item.",
            sql="nearest_neighbour_id",
            nullable=True,
        ),
        Signal(
            "nearest_similarity",
            "double",
            "Cosine similarity of the text embeddings of the item and its nearest neighbour; null "
            "when there is none.",
            sql="nearest_similarity",
            unit="cosine",
            min_value=-1.0001,
            max_value=1.0001,
            nullable=True,
            drift=True,
        ),
        Signal(
            "near_duplicate_count",
            "int64",
            f"Neighbours among the item's {DUPLICATE_NEIGHBOURS} nearest whose similarity is at or "
            f"above {NEAR_DUPLICATE_SIMILARITY} (capped at {DUPLICATE_NEIGHBOURS}).",
            sql="near_duplicate_count",
            unit="items",
            min_value=0,
            max_value=DUPLICATE_NEIGHBOURS,
            drift=True,
        ),
        Signal(
            "near_duplicate_group_size",
            "int64",
            "Items in the item's near-duplicate group, itself included: the connected component of "
            "the near-duplicate links between each item and its nearest neighbours (single linkage: "
            "A~B and B~C put A and C in one group). 1 for an item with no near-duplicate.",
            sql="near_duplicate_group_size",
            unit="items",
            min_value=1,
        ),
        Signal(
            "same_creator_burst_count",
            "int64",
            f"Lookalikes (similarity at or above {BURST_SIMILARITY}, among the item's "
            f"{DUPLICATE_NEIGHBOURS} nearest) by the item's own creator released at most "
            f"{BURST_WINDOW_DAYS} days before or after the item. Null when the item's release date "
            "is unknown; a lookalike without a release date is not counted.",
            sql="same_creator_burst_count",
            unit="items",
            min_value=0,
            max_value=DUPLICATE_NEIGHBOURS,
            nullable=True,
        ),
        Signal(
            "is_burst",
            "bool",
            f"same_creator_burst_count >= {BURST_MIN_DUPLICATES}: the creator released at least "
            f"{BURST_MIN_DUPLICATES} lookalikes of the item within {BURST_WINDOW_DAYS} days of it "
            "(spam-like). Null when the item's release date is unknown.",
            sql=f"same_creator_burst_count >= {BURST_MIN_DUPLICATES}",
            nullable=True,
        ),
        Signal(
            "earlier_other_creator_duplicates",
            "int64",
            "Near-duplicates by other creators released strictly before the item (a possible "
            "re-upload of their work). Null when the item's release date is unknown; a "
            "near-duplicate without a release date or creator is not counted.",
            sql="earlier_other_creator_duplicates",
            unit="items",
            min_value=0,
            max_value=DUPLICATE_NEIGHBOURS,
            nullable=True,
        ),
        Signal(
            "possible_reupload_of",
            "string",
            "The earliest released of those near-duplicates by other creators (ties: the most "
            "similar, then the smallest content_id); null when there is none.",
            sql="possible_reupload_of",
            nullable=True,
        ),
    ),
)
