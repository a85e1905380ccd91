"""The publish log: one JSON line per partition materialized into the online store.

Written by the feature store stage when it publishes, read by the gate's freshness check and the
dashboard; a format, so it lives in the vocabulary that both import.
"""

from __future__ import annotations

from dataclasses import dataclass

from content_signals.files import read_json_lines
from content_signals.layout import DataLayout


@dataclass(frozen=True)
class PublishRecord:
    table: str
    partition: str
    rows: int
    seconds: float
    published_at: str
    # Which online store received it, and which version of the partition (a rerun of the job
    # replaces the partition's files, and then it is published again).
    store: str = ""
    fingerprint: str = ""
    skipped_rows: int = 0  # rows the store already held newer values for


def publish_log(layout: DataLayout) -> list[PublishRecord]:
    """Every publication recorded so far, oldest first."""
    return read_json_lines(layout.publish_log_path, PublishRecord)
