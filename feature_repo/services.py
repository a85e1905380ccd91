"""Feature services: one per consumer and version. A consumer pins a version; changing what a
version returns is a breaking change, so new features go into a new version.

Both services are keyed by content alone (their callers send content ids). ``creator_profile`` is
published and retrievable by ``creator_id`` but not yet part of a content-keyed service.
"""

from __future__ import annotations

from feast import FeatureService, FeatureView


def ranking_v1(views: dict[str, FeatureView]) -> FeatureService:
    return FeatureService(
        name="ranking_v1",
        features=[views["content_engagement"], views["content_metadata"], views["content_audio"]],
        description="Features the ranking team's models read for each candidate item.",
        tags={"consumer": "ranking", "version": "1"},
    )


def safety_v1(views: dict[str, FeatureView]) -> FeatureService:
    metadata = views["content_metadata"]
    return FeatureService(
        name="safety_v1",
        features=[
            views["text_safety_lexicon"],
            metadata[["is_explicit", "metadata_completeness", "title_length", "title_caps_ratio", "has_url"]],
        ],
        description="Features the moderation team's models read: text safety plus a little metadata.",
        tags={"consumer": "safety", "version": "1"},
    )
