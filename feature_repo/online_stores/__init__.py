"""Feast's online stores, behind one interface (:class:`OnlineStore`) for publishing and serving.

As Feast picks its ``OnlineStore`` class from ``online_store.type`` in ``feature_store.yaml``,
:func:`open_online_store` picks ours from the same settings: ``sqlite`` (the embedded default) or
``redis``. Publishing writes through a store's :meth:`OnlineStore.writer`; serving reads through
its :meth:`OnlineStore.read`; both speak Feast's format (:mod:`content_signals.storage_format`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from content_signals.config import PlatformConfig
from content_signals.feature_repo.online_stores.base import (
    MISSING,
    BatchWriter,
    OnlineStore,
    OnlineStoreError,
    StoreUnavailable,
    ViewRead,
    ViewRows,
)
from content_signals.feature_repo.online_stores.redis import RedisOnlineStore
from content_signals.feature_repo.online_stores.sqlite import SqliteOnlineStore
from content_signals.feature_repo.repo import online_store_settings

__all__ = [
    "MISSING",
    "BatchWriter",
    "OnlineStore",
    "OnlineStoreError",
    "RedisOnlineStore",
    "SqliteOnlineStore",
    "StoreUnavailable",
    "ViewRead",
    "ViewRows",
    "configured_online_store",
    "open_online_store",
]

# Feast's names for its SQLite store: the short type, and the class path feature_store.yaml may give.
_SQLITE_TYPES = ("sqlite", "feast.infra.online_stores.sqlite.SqliteOnlineStore")


def open_online_store(
    settings: Mapping[str, Any],
    project: str,
    *,
    repo_path: Path | None = None,
    connections: int = 8,
    timeout_s: float = 1.0,
) -> OnlineStore:
    """The store Feast's ``online_store`` ``settings`` describe, for ``project``.

    ``repo_path`` resolves a relative SQLite path (as Feast resolves it against the repo);
    ``connections`` and ``timeout_s`` bound a Redis store's reads.
    """
    store_type = settings.get("type", "sqlite")
    if store_type == "redis":
        return RedisOnlineStore.from_settings(settings, project, connections, timeout_s)
    if store_type in _SQLITE_TYPES:
        return SqliteOnlineStore.from_settings(settings, project, repo_path)
    raise OnlineStoreError(f"online store type {store_type!r} is not supported (sqlite or redis)")


def configured_online_store(config: PlatformConfig) -> OnlineStore:
    """The platform's online store, as ``config`` configures it (reads bounded by ``config.serving``)."""
    return open_online_store(
        online_store_settings(config),
        config.feast.project,
        connections=config.serving.online_store_connections,
        timeout_s=config.serving.online_store_timeout_s,
    )
