"""Build the SparkSession from the config, with the settings this platform relies on."""

from __future__ import annotations

from pathlib import Path
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


LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def spark_session(config: SparkConfig, master_from_submit: bool = False) -> SparkSession:
    """Start (or reuse) the SparkSession described by ``config``.

    Under ``spark-submit`` (``master_from_submit``), the master and driver memory given to
    spark-submit win over the config's.
    """
    from pyspark.sql import SparkSession

    java_options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"
    builder = SparkSession.builder
    if not master_from_submit:
        builder = builder.master(config.master).config("spark.driver.memory", config.driver_memory)
    builder = (
        builder.appName(config.app_name)
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
    )
    for key, value in {**REQUIRED_CONF, **config.conf}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
