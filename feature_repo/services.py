"""Feature services: one per consumer and version. A consumer pins a version; changing what a
version returns is a breaking change, so new features go into a new version.

Callers send content ids only. Both services also carry the item's creator's features
(``creator_profile``, keyed by ``creator_id``): training sets and online reads find each item's
creator through its ``content_metadata.item_creator_id`` (see ``definitions.key_lookup``).
"""

from __future__ import annotations

from feast import FeatureService, FeatureView, OnDemandFeatureView

from content_signals.definitions import SAFETY_V2_SIGNALS


def _moderation_context(views: dict[str, FeatureView]) -> list[FeatureView]:
    """What every safety service version carries: the lexicon baseline, a little metadata and the
    creator's profile (a version's list must never change once released)."""
    metadata = views["content_metadata"]
    return [
        views["text_safety_lexicon"],
        metadata[["is_explicit", "metadata_completeness", "title_length", "title_caps_ratio", "has_url"]],
        views["creator_profile"],
    ]


def ranking_v1(views: dict[str, FeatureView]) -> FeatureService:
    return FeatureService(
        name="ranking_v1",
        features=[
            views["content_engagement"],
            views["content_metadata"],
            views["content_audio"],
            views["creator_profile"],
        ],
        description="Features the ranking team's models read for each candidate item.",
        tags={"consumer": "ranking", "version": "1"},
    )


def safety_v1(views: dict[str, FeatureView]) -> FeatureService:
    return FeatureService(
        name="safety_v1",
        features=[*_moderation_context(views)],
        description="Features the moderation team's models read: text safety plus a little metadata.",
        tags={"consumer": "safety", "version": "1"},
    )


def safety_v2(views: dict[str, FeatureView]) -> FeatureService:
    """safety_v1 plus the safety model's scores and decision (``content_safety``)."""
    return FeatureService(
        name="safety_v2",
        features=[views["content_safety"][list(SAFETY_V2_SIGNALS)], *_moderation_context(views)],
        description=(
            "Features the moderation team reads: the safety model's scores and decision, the lexicon "
            "baseline, a little metadata and the creator's profile."
        ),
        tags={"consumer": "safety", "version": "2"},
    )


def safety_v3(views: dict[str, FeatureView]) -> FeatureService:
    """safety_v2 plus every later content_safety signal (per-category probabilities, the decision's
    category and reason, explicit_suggested, the block and review flags) and near-duplicates,
    bursts and possible re-uploads (``content_duplicates``)."""
    return FeatureService(
        name="safety_v3",
        features=[views["content_safety"], views["content_duplicates"], *_moderation_context(views)],
        description=(
            "Features the moderation team reads: the safety model's scores and decision, "
            "near-duplicates (same-creator bursts, possible re-uploads), the lexicon baseline, a "
            "little metadata and the creator's profile."
        ),
        tags={"consumer": "safety", "version": "3"},
    )


def ranking_v2(views: dict[str, FeatureView]) -> FeatureService:
    """ranking_v1 plus near-duplicates (``content_duplicates``): to demote lookalike spam and
    diversify results."""
    return FeatureService(
        name="ranking_v2",
        features=[
            views["content_engagement"],
            views["content_metadata"],
            views["content_audio"],
            views["creator_profile"],
            views["content_duplicates"],
        ],
        description="Features the ranking team's models read for each candidate item, with near-duplicates.",
        tags={"consumer": "ranking", "version": "2"},
    )


def similarity_v1(views: dict[str, FeatureView]) -> FeatureService:
    return FeatureService(
        name="similarity_v1",
        features=[views["content_embedding"][["text_embedding"]]],
        description="Text embeddings for recommendation: nearest neighbours, deduplication, clustering.",
        tags={"consumer": "recommendation", "version": "1"},
    )


def upload_safety_v1(upload_text: OnDemandFeatureView, views: dict[str, FeatureView]) -> FeatureService:
    """For uploads not yet in the catalogue: request-time text signals plus the creator's profile.

    Callers send ``creator_id`` and the upload's ``upload_title`` / ``upload_description``.
    """
    return FeatureService(
        name="upload_safety_v1",
        features=[upload_text, views["creator_profile"]],
        description="Features the moderation team's models read for a new upload, before any job has run.",
        tags={"consumer": "safety", "version": "1"},
    )
