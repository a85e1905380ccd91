"""Feast data sources over the validated signal partitions (the offline store).

Sources read ``<data_dir>/signals/<table>/``, where only partitions that passed the gate ever
appear, so neither training sets nor materialization can see quarantined data.
"""

from __future__ import annotations

from pathlib import Path

from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, SignalTable


def signal_source(table: SignalTable, table_dir: Path) -> SparkSource:
    return SparkSource(
        name=f"{table.name}_source",
        path=str(table_dir),
        file_format="parquet",
        timestamp_field=ENTITY_TIMESTAMP,
        created_timestamp_column=CREATED_TIMESTAMP,
        description=f"Validated daily partitions of {table.name}.",
    )
