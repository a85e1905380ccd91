"""The production profile on the real servers: Redis online store, Feast's SQL registry on PostgreSQL.

Publishes the pipeline's validated partitions with ``config/production.yaml`` and reads them back
through Feast's SDK (the registry in PostgreSQL, the values in Redis): they equal the partitions'
rows and what the embedded SQLite profile serves. Publishing again changes nothing; republishing an
older day keeps the newer values.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from content_signals.config import PlatformConfig, load_config
from content_signals.definitions import SIGNAL_TABLES
from content_signals.feature_repo.publishing import publish
from content_signals.feature_repo.repo import feature_store
from content_signals.publish_log import publish_log
from tests.conftest import Pipeline

REPO_ROOT = Path(__file__).resolve().parents[1]
REDIS_DB = 2


def _redis() -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)


@pytest.fixture(scope="module")
def production(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformConfig]:
    try:
        _redis().ping()
    except Exception as exc:
        pytest.fail(f"Redis on 127.0.0.1:6379 is required (.ci/run starts it): {exc}")
    data_dir = tmp_path_factory.mktemp("production")
    shutil.copytree(pipeline.layout.root / "signals", data_dir / "signals")
    project = f"cs_test_{uuid.uuid4().hex[:8]}"
    config = load_config(
        REPO_ROOT / "config" / "production.yaml",
        environ={
            "SIGNALS_DATA_DIR": str(data_dir),
            "FEAST_PROJECT": project,
            "REDIS_ADDRESS": f"127.0.0.1:6379,db={REDIS_DB}",
            "SPARK_MASTER": "local[2]",
        },
    )
    assert config.feast.registry.type == "sql" and config.feast.online_store.type == "redis"
    yield config
    client = _redis()
    for key in client.scan_iter(match=f"*{project}".encode(), count=10_000):
        client.delete(key)
    store = feature_store(config)
    store.registry.delete_project(project, commit=True)


def _sample_ids(spark: SparkSession, pipeline: Pipeline, limit: int = 40) -> list[dict[str, Any]]:
    partition = pipeline.layout.signal_partition("content_metadata", pipeline.feature_day)
    rows = spark.read.parquet(str(partition)).orderBy("content_id").limit(limit).collect()
    return [{"content_id": r["content_id"], "creator_id": r["item_creator_id"] or ""} for r in rows]


def test_publish_into_redis_reads_back_like_the_partition_and_sqlite(
    production: PlatformConfig, pipeline: Pipeline, spark: SparkSession
) -> None:
    records = publish(production, pipeline.previous_day) + publish(production, pipeline.feature_day)
    days = (pipeline.previous_day, pipeline.feature_day)
    assert {(r.table, r.partition) for r in records} == {
        (t, d.isoformat()) for t in SIGNAL_TABLES for d in days
    }
    assert all(r.rows > 0 and r.store.startswith("redis:") for r in records)

    # A fresh FeatureStore: the registry comes from PostgreSQL, the values from Redis.
    redis_store = feature_store(production)
    assert {s.name for s in redis_store.list_feature_services()} >= {
        "ranking_v1",
        "safety_v1",
        "upload_safety_v1",
    }
    rows = _sample_ids(spark, pipeline)
    service = redis_store.get_feature_service("ranking_v1")
    from_redis = redis_store.get_online_features(features=service, entity_rows=rows).to_dict()
    sqlite_store = feature_store(pipeline.config)
    from_sqlite = sqlite_store.get_online_features(
        features=sqlite_store.get_feature_service("ranking_v1"), entity_rows=rows
    ).to_dict()
    assert from_redis == from_sqlite

    partition = pipeline.layout.signal_partition("content_engagement", pipeline.feature_day)
    expected = {r["content_id"]: r for r in spark.read.parquet(str(partition)).collect()}
    for i, row in enumerate(rows):
        source = expected.get(row["content_id"])
        assert from_redis["plays_7d"][i] == (source["plays_7d"] if source else None)
    assert any(v is not None for v in from_redis["catalogue_size"])  # creator features found


def test_publishing_again_changes_nothing_and_older_days_never_win(
    production: PlatformConfig, pipeline: Pipeline, spark: SparkSession
) -> None:
    store = feature_store(production)
    rows = _sample_ids(spark, pipeline)
    before = store.get_online_features(
        features=store.get_feature_service("ranking_v1"), entity_rows=rows
    ).to_dict()
    client = _redis()
    keys = sorted(client.scan_iter(match=f"*{production.feast.project}".encode(), count=10_000))
    raw_before = {key: client.hgetall(key) for key in keys[:50]}
    logged = len(publish_log_of(production))

    assert publish(production, pipeline.feature_day) == []  # unchanged partitions: nothing to do
    assert len(publish_log_of(production)) == logged
    assert {key: client.hgetall(key) for key in keys[:50]} == raw_before

    # Republishing the older day after the newer one (say, after a partition was re-run) keeps the
    # newer values: Feast's rule that a stored value at least as new is kept.
    previous = production.resolve(f"signals/content_engagement/date={pipeline.previous_day.isoformat()}")
    for part in previous.glob("*.parquet"):
        part.touch()  # a new fingerprint: it is published again
    [record] = publish(production, pipeline.previous_day, tables=["content_engagement"])
    assert record.skipped_rows > 0  # every entity already held the newer day
    after = store.get_online_features(
        features=store.get_feature_service("ranking_v1"), entity_rows=rows
    ).to_dict()
    assert after == before


def publish_log_of(config: PlatformConfig) -> list[Any]:
    from content_signals.layout import DataLayout

    return publish_log(DataLayout(config.data_dir))
