"""The data every contender serves: the demo's pipeline at benchmark size into a dedicated Redis db,
and the request id lists drawn from it before any clock starts."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.serving.common import (
    EXTRA_VIEWS,
    FEATURE_DAY,
    REQUEST_SETS,
    SCORE_IDS,
    SERVICE_VIEWS,
    START_DATE,
    TABLES,
    say,
)


def flush(connection_string: str) -> None:
    import redis

    from content_signals.feature_repo.online_stores.redis import parse_redis_connection_string

    host, port, kwargs = parse_redis_connection_string(connection_string)
    client = redis.Redis(host=host, port=port, **kwargs)
    client.flushdb()
    client.close()


def write_config(root: Path, project: str, redis_address: str, grpc_port: int) -> Path:
    path = root / "platform.yaml"
    config = {
        "data_dir": str(root / "data"),
        "spark": {"master": "local[2]", "shuffle_partitions": 4},
        "feast": {"project": project, "online_store": {"type": "redis", "connection_string": redis_address}},
        "serving": {"host": "127.0.0.1", "grpc_port": grpc_port, "enforce_ttl": False},
        "quality": {"data_docs": False},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def write_requests(root: Path, path: Path, sizes: list[int], metadata_partition: str) -> None:
    """REQUEST_SETS id lists per size (fixed seed), with each item's creator for feast serve."""
    import pyarrow.parquet as pq

    table = pq.read_table(metadata_partition, columns=["content_id", "item_creator_id"])
    ids = np.array(table.column("content_id").to_pylist(), dtype=object)
    creators = np.array(
        [c if c is not None else "" for c in table.column("item_creator_id").to_pylist()], dtype=object
    )
    rng = np.random.default_rng(17)
    requests: dict[str, list[dict[str, list[str]]]] = {}
    for size in sorted({*sizes, SCORE_IDS}):
        requests[str(size)] = []
        for _ in range(REQUEST_SETS):
            pick = rng.choice(len(ids), size=min(size, len(ids)), replace=False)
            requests[str(size)].append({"ids": ids[pick].tolist(), "creators": creators[pick].tolist()})
    path.write_text(json.dumps(requests))


def prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """The demo's pipeline at benchmark size: generate, jobs + gate for two days, publish, train."""
    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.expectations.gate import quality_gate
    from content_signals.expectations.history import open_history
    from content_signals.feature_repo.publishing import publish
    from content_signals.jobs.engagement_training import train_engagement
    from content_signals.jobs.runner import run_many
    from content_signals.layout import DataLayout
    from content_signals.spark import spark_session
    from content_signals.synthetic import GenerationSpec, write_catalogue

    config = load_config(Path(spec["config"]))
    prepare_process(config)
    layout = DataLayout(config.data_dir)
    if spec["describe_only"]:
        return describe(config, layout)
    generation = GenerationSpec(
        items=spec["items"],
        creators=spec["creators"],
        days=14,
        events_per_day=spec["events_per_day"],
        users=max(5_000, spec["events_per_day"] // 5),
        start_date=START_DATE,
    )
    begun = time.perf_counter()
    counts = write_catalogue(generation, layout)
    seconds = time.perf_counter() - begun
    say(f"  generated {counts['items']:,} items, {counts['events']:,} events ({seconds:.0f}s)")
    days = [FEATURE_DAY - timedelta(days=d) for d in reversed(range(spec["job_days"]))]
    begun = time.perf_counter()
    spark = spark_session(config.spark)
    history = open_history(config)
    try:
        report = run_many(
            spark,
            layout,
            TABLES,
            days,
            quality_gate(config),
            lambda line: say(f"  {line}"),
            history,
        )
    finally:
        history.close()
    if report.quarantined:
        raise RuntimeError("; ".join(report.quarantined))
    say(f"  jobs and gate for {len(days)} day(s): {time.perf_counter() - begun:.0f}s")
    for day in days:
        begun = time.perf_counter()
        publish(config, day, tables=TABLES)
        say(f"  published {day.isoformat()} ({time.perf_counter() - begun:.0f}s)")
    begun = time.perf_counter()
    trained = train_engagement(config, spark, FEATURE_DAY)
    say(f"  trained quality {trained.card.version} ({time.perf_counter() - begun:.0f}s)")
    spark.stop()
    return describe(config, layout)


def describe(config: Any, layout: Any) -> dict[str, Any]:
    """The features every request asks for, the model, and where the creators of items are."""
    from content_signals.feature_repo.repo import feature_store
    from content_signals.serving.catalog import load_catalog
    from content_signals.serving.scoring import discover_models

    card = discover_models(layout)["engagement"].default.card
    catalog = load_catalog(feature_store(config))
    refs = [f.ref for name in SERVICE_VIEWS for f in catalog.services[name].features]
    refs += [f"{view}:{name}" for view in EXTRA_VIEWS for name in catalog.views[view].features]
    return {
        "refs": refs,
        "model": f"{card.name} {card.version}",
        "metadata_partition": str(layout.signal_partition("content_metadata", FEATURE_DAY)),
    }
