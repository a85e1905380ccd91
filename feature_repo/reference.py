"""Feast's own path over one partition: the reference :mod:`content_signals.feature_repo.online_write` is
held to.

The byte-equality tests and the materialization benchmark both need a Feast store whose view reads
exactly one partition file set, so that Feast's ``materialize`` writes what our writer writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, SignalTable


def partition_feature_store(
    project: str,
    root: Path,
    online_store: dict[str, Any],
    table: SignalTable,
    partition: Path,
    online_write_batch_size: int,
) -> Any:
    """A FeatureStore for ``project`` (file registry under ``root``) with ``table``'s view applied,
    its source the Parquet files of ``partition``."""
    from feast import FeatureStore, FileSource
    from feast.repo_config import RepoConfig

    from content_signals.feature_repo.entities import feast_entities
    from content_signals.feature_repo.views import signal_view

    config = RepoConfig(
        project=project,
        provider="local",
        registry={"registry_type": "file", "path": str(root / f"registry_{project}.db")},
        online_store=online_store,
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        materialization={"online_write_batch_size": online_write_batch_size},
        repo_path=str(root),
    )
    store = FeatureStore(config=config)
    entity = feast_entities()[table.entity.name]
    source = FileSource(
        name=f"{table.name}_source",
        path=str(partition),
        timestamp_field=ENTITY_TIMESTAMP,
        created_timestamp_column=CREATED_TIMESTAMP,
    )
    store.apply([entity, signal_view(table, entity, source)])
    return store
