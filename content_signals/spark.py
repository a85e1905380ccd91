"""Build the SparkSession from the config, with the settings this platform relies on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from content_signals.config import SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Settings correctness depends on, not tuning: every timestamp is UTC, and Parquet timestamps are
# written as INT64 microseconds (INT96 comes back timezone-less in pandas/Feast).
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


def spark_session(config: SparkConfig) -> SparkSession:
    """Start (or reuse) the SparkSession described by ``config``."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(config.master)
        .appName(config.app_name)
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    for key, value in {**REQUIRED_CONF, **config.conf}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
