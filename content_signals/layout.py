"""Where each kind of data lives under the data directory.

    raw/catalog/content.parquet         catalogue items (generated or imported)
    raw/catalog/creators.parquet        creators
    raw/catalog/audio_features.parquet  audio descriptors of tracks (imported catalogues)
    raw/imports.jsonl                   every import (catalogue or events): file, mapping, counts, outcome
    raw/imports/<import id>/rejects/    rows that import could not accept, with the reason (CSV)
    raw/events/date=YYYY-MM-DD/         listening events, one folder per UTC day
    signals/<table>/date=YYYY-MM-DD/    validated signal partitions: the offline store
    quarantine/<table>/date=.../<run>/  partitions that failed the gate, with their validation result
    vector_index/<table>/date=.../      the nearest-neighbour index of a published vector partition
    staging/                            partitions being written; never read by anything else
    models/<name>/<version>/            trained model artifacts (immutable once written)
    models/<name>/promoted.json         the promoted version; promotions.jsonl: every promotion
    model_cards/<name>/<version>.html   model cards (and .json) written by `signals evaluate`
    online_store.db, registry.db        Feast's SQLite online store and registry (embedded defaults)

Only :mod:`content_signals.partitions` moves data into ``signals/``, and only with an atomic rename, so a
reader never sees a half-written partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path


def partition_name(day: date) -> str:
    return f"date={day.isoformat()}"


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @property
    def catalog_dir(self) -> Path:
        return self.root / "raw" / "catalog"

    @property
    def content_path(self) -> Path:
        return self.catalog_dir / "content.parquet"

    @property
    def creators_path(self) -> Path:
        return self.catalog_dir / "creators.parquet"

    @property
    def audio_features_path(self) -> Path:
        return self.catalog_dir / "audio_features.parquet"

    @property
    def imports_log_path(self) -> Path:
        return self.root / "raw" / "imports.jsonl"

    def import_rejects_dir(self, import_id: str) -> Path:
        return self.root / "raw" / "imports" / import_id / "rejects"

    @property
    def events_dir(self) -> Path:
        return self.root / "raw" / "events"

    def events_partition(self, day: date) -> Path:
        return self.events_dir / partition_name(day)

    def signal_table_dir(self, table: str) -> Path:
        return self.root / "signals" / table

    def signal_partition(self, table: str, day: date) -> Path:
        return self.signal_table_dir(table) / partition_name(day)

    def quarantine_dir(self, table: str, day: date) -> Path:
        return self.root / "quarantine" / table / partition_name(day)

    def vector_index_dir(self, table: str) -> Path:
        return self.root / "vector_index" / table

    def vector_index_version(self, table: str, day: date) -> Path:
        """The index built from ``table``'s partition of ``day`` (beside the partition, swapped in
        the same way)."""
        return self.vector_index_dir(table) / partition_name(day)

    @property
    def staging_dir(self) -> Path:
        return self.root / "staging"

    @property
    def publish_log_path(self) -> Path:
        return self.root / "publish_log.jsonl"

    @property
    def models_root(self) -> Path:
        return self.root / "models"

    def model_dir(self, name: str) -> Path:
        return self.models_root / name

    @property
    def model_cards_root(self) -> Path:
        return self.root / "model_cards"
