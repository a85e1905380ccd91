"""Feature services: one per consumer and version. A consumer pins a version; changing what a
version returns is a breaking change, so new features go into a new version."""

from __future__ import annotations

from feast import FeatureService, FeatureView


def ranking_v1(content_profile: FeatureView) -> FeatureService:
    return FeatureService(
        name="ranking_v1",
        features=[content_profile],
        description="Features the ranking team's models read for each candidate item.",
        tags={"consumer": "ranking", "version": "1"},
    )


def safety_v1(text_safety: FeatureView, content_profile: FeatureView) -> FeatureService:
    return FeatureService(
        name="safety_v1",
        features=[text_safety, content_profile[["is_explicit", "metadata_completeness", "title_length"]]],
        description="Features the moderation team's models read: text safety plus a little metadata.",
        tags={"consumer": "safety", "version": "1"},
    )
