"""The day's vector index of the published ``content_embedding`` partition, built once per run.

After the runner publishes a ``content_embedding`` partition it builds that day's index version
(:func:`ensure_index`); the ``content_duplicates`` job ensures it again before reading neighbours,
and ``signals index build --date D`` does it by hand. Ensuring is idempotent: a version whose
manifest names the partition's current run (``source_run_id``) is kept as it is, so only a rerun
of the embedding job leads to a new version.

The build reads the partition and the catalogue with pyarrow (no Spark): vectors and text
fingerprints from the partition, content type and creator from the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from content_signals.config import SimilarityConfig, TextEncoderConfig
from content_signals.definitions import CONTENT_EMBEDDING
from content_signals.errors import SignalsError
from content_signals.jobs.signal_job import Published
from content_signals.layout import DataLayout
from content_signals.models.encoder_weights import encoder_digest
from content_signals.partitions import partition_run_id
from content_signals.similarity.index import IndexManifest, build_index_version

TABLE = CONTENT_EMBEDDING.name


def source_run_id(layout: DataLayout, day: date) -> str:
    """The run that wrote the published ``content_embedding`` partition of ``day``; raises when there
    is no such partition. A partition published before runs were recorded in it is identified by
    its files (names, sizes, modification times) instead."""
    partition = layout.signal_partition(TABLE, day)
    if not partition.is_dir():
        raise SignalsError(
            f"no published {TABLE} partition for {day.isoformat()} at {partition} "
            f"(run `signals jobs run {TABLE} --date {day.isoformat()}` first)"
        )
    recorded = partition_run_id(partition)
    if recorded is not None:
        return recorded
    from content_signals.feature_repo.publishing import partition_fingerprint

    return f"files-{partition_fingerprint(partition)}"


def index_items(layout: DataLayout, day: date) -> pa.Table:
    """The published partition's vectors joined with the catalogue's content type and creator, in
    content id order (an item missing from the catalogue keeps nulls)."""
    partition = layout.signal_partition(TABLE, day)
    vectors = pq.read_table(partition, columns=["content_id", "text_embedding", "embedded_text_fingerprint"])
    if not layout.content_path.exists():
        raise SignalsError(f"missing input: no catalogue at {layout.content_path}")
    catalogue = pq.read_table(layout.content_path, columns=["content_id", "content_type", "creator_id"])
    vectors = vectors.sort_by("content_id")
    # (Acero cannot carry a list column through a join: look the catalogue rows up instead.)
    rows = pc.index_in(vectors.column("content_id"), value_set=catalogue.column("content_id"))
    return vectors.append_column("content_type", catalogue.column("content_type").take(rows)).append_column(
        "creator_id", catalogue.column("creator_id").take(rows)
    )


def current_index(layout: DataLayout, day: date) -> IndexManifest | None:
    """The manifest of ``day``'s index version if it was built from the partition's current run."""
    folder = layout.vector_index_version(TABLE, day)
    if not folder.is_dir():
        return None
    manifest = IndexManifest.read(folder)
    return manifest if manifest.source_run_id == source_run_id(layout, day) else None


def ensure_index(
    layout: DataLayout,
    day: date,
    *,
    encoder: TextEncoderConfig,
    settings: SimilarityConfig,
    progress: Callable[[str], None] | None = None,
) -> tuple[IndexManifest, bool]:
    """``day``'s index version of the published ``content_embedding`` partition, built (or updated
    from the previous version) unless the one in place already comes from the partition's current
    run. Returns its manifest and whether this call built it."""
    run = source_run_id(layout, day)
    existing = current_index(layout, day)
    if existing is not None:
        return existing, False
    manifest = build_index_version(
        layout,
        TABLE,
        day,
        index_items(layout, day),
        source_run_id=run,
        encoder_digest=encoder_digest(encoder),
        settings=settings,
        progress=progress,
    )
    return manifest, True


def describe(manifest: IndexManifest) -> str:
    """One line about an index version, for the CLI and the runner's progress."""
    recall = "-" if manifest.sample_recall_at_10 is None else f"{manifest.sample_recall_at_10:.3f}"
    return (
        f"vector index {manifest.table} {manifest.version}: {manifest.items:,} items ({manifest.build}: "
        f"{manifest.added:,} added, {manifest.replaced:,} replaced, {manifest.removed:,} removed, "
        f"{manifest.unchanged:,} unchanged), from run {manifest.source_run_id}, encoder "
        f"{manifest.encoder_digest}, recall@10 on a sample {recall}, {manifest.build_seconds:.1f} s"
    )


def build_after_publish(published: Published) -> IndexManifest:
    """The ``content_embedding`` job's step after publishing: the day's index version."""
    manifest, built = ensure_index(
        published.layout,
        published.day,
        encoder=published.models.text_encoder,
        settings=published.similarity,
        progress=published.progress,
    )
    published.progress(describe(manifest) if built else f"{describe(manifest)} (already in place)")
    return manifest
