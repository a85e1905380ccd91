"""The Feast repo as code: the store's config and every object ``apply`` registers.

Feast's own CLI discovers objects by scanning modules; we build them from the platform config
instead, because the sources' paths and the stores' locations are deployment settings, not code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from content_signals.config import PlatformConfig
from content_signals.definitions import SIGNAL_TABLES, SignalTable
from content_signals.layout import DataLayout
from content_signals.spark import REQUIRED_CONF

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureStore, FeatureView, OnDemandFeatureView
    from feast.repo_config import RepoConfig


@dataclass(frozen=True)
class RepoObjects:
    entities: list[Entity]
    views: list[FeatureView]
    services: list[FeatureService]
    on_demand_views: list[OnDemandFeatureView]

    def all(self) -> list[Any]:
        return [*self.entities, *self.views, *self.on_demand_views, *self.services]


def build_objects(config: PlatformConfig, tables: Mapping[str, SignalTable] = SIGNAL_TABLES) -> RepoObjects:
    """Every Feast object, derived from the signal ``tables`` (the platform's own by default)."""
    from content_signals.feature_repo.entities import feast_entities
    from content_signals.feature_repo.on_demand import upload_text_view
    from content_signals.feature_repo.services import (
        ranking_v1,
        ranking_v2,
        safety_v1,
        safety_v2,
        safety_v3,
        similarity_v1,
        upload_safety_v1,
    )
    from content_signals.feature_repo.sources import signal_source
    from content_signals.feature_repo.views import signal_view

    layout = DataLayout(config.data_dir)
    entities = feast_entities()
    views = {
        table.name: signal_view(
            table, entities[table.entity.name], signal_source(table, layout.signal_table_dir(table.name))
        )
        for table in tables.values()
    }
    upload_text = upload_text_view()
    return RepoObjects(
        entities=list(entities.values()),
        views=list(views.values()),
        services=[
            ranking_v1(views),
            ranking_v2(views),
            safety_v1(views),
            safety_v2(views),
            safety_v3(views),
            similarity_v1(views),
            upload_safety_v1(upload_text, views),
        ],
        on_demand_views=[upload_text],
    )


def online_store_settings(config: PlatformConfig) -> dict[str, Any]:
    online = config.feast.online_store
    if online.type == "sqlite":
        return {"type": "sqlite", "path": str(config.resolve(online.path))}
    return {"type": "redis", "connection_string": online.connection_string}


def registry_settings(config: PlatformConfig) -> dict[str, Any]:
    registry = config.feast.registry
    if registry.type == "sql":
        return {
            "registry_type": "sql",
            "path": registry.url,
            "cache_ttl_seconds": registry.cache_ttl_seconds,
            # Feast's SQL registry pools connections; a small pool is plenty for one process.
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
        }
    return {
        "registry_type": "file",
        "path": str(config.resolve(registry.path)),
        "cache_ttl_seconds": registry.cache_ttl_seconds,
    }


def repo_config(config: PlatformConfig) -> RepoConfig:
    from feast.repo_config import RepoConfig

    spark = config.spark
    spark_conf = {
        "spark.master": spark.master,
        "spark.driver.memory": spark.driver_memory,
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
        "spark.ui.enabled": "false",
        **REQUIRED_CONF,
        **spark.conf,
    }
    return RepoConfig(
        project=config.feast.project,
        provider="local",
        registry=registry_settings(config),
        online_store=online_store_settings(config),
        offline_store={"type": "spark", "spark_conf": spark_conf},
        entity_key_serialization_version=3,
        materialization={"online_write_batch_size": config.feast.online_write_batch_size},
        repo_path=str(config.data_dir),
    )


def feature_store(config: PlatformConfig) -> FeatureStore:
    from feast import FeatureStore

    config.data_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=repo_config(config))
