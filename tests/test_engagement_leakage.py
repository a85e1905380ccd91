"""No leakage into the engagement model: feature values timestamped after the training set's feature
time (here, while the label's week is still running) change nothing the model learns."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_ENGAGEMENT, ENTITY_TIMESTAMP
from content_signals.feature_repo.training_sets import ViewRequest, build_training_set
from content_signals.jobs.engagement_training import train_engagement
from content_signals.layout import DataLayout
from content_signals.models.networks import TEST_PREDICTIONS_FILE
from tests.conftest import Pipeline

pytestmark = pytest.mark.slow


def test_a_later_feature_value_changes_nothing_the_model_learns(
    pipeline: Pipeline, spark, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = pipeline.config.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(pipeline.config.data_dir, config.data_dir)
    layout = DataLayout(config.data_dir)
    day = pipeline.feature_day
    first = train_engagement(config, spark, day, epochs=40, seed=0)

    # The next day's engagement, with every count a hundred times larger: timestamped after the
    # feature time, inside the label's window, and so correlated with the label it would leak.
    later = day + timedelta(days=1)
    current = spark.read.parquet(str(layout.signal_partition(CONTENT_ENGAGEMENT.name, day)))
    counts = [s.name for s in CONTENT_ENGAGEMENT.signals if s.dtype == "int64"]
    doctored = current.select(
        *[(F.col(c) * 100).alias(c) if c in counts else F.col(c) for c in current.columns]
    ).withColumn(ENTITY_TIMESTAMP, F.col(ENTITY_TIMESTAMP) + F.expr("INTERVAL 1 DAY"))
    doctored.write.parquet(str(layout.signal_partition(CONTENT_ENGAGEMENT.name, later)))

    # The doctored values are there for anyone asking after they were known (so this test can fail)...
    entities = pq.read_table(layout.content_path, columns=["content_id"]).to_pandas().head(50)
    view = [ViewRequest(CONTENT_ENGAGEMENT, ("plays_7d",))]
    after = entities.assign(
        **{ENTITY_TIMESTAMP: pd.Timestamp(first.card.evaluation["feature_time"]) + timedelta(days=1)}
    )
    seen_later = build_training_set(spark, layout, spark.createDataFrame(after), view).toPandas()
    at_feature_time = build_training_set(
        spark,
        layout,
        spark.createDataFrame(
            after.assign(**{ENTITY_TIMESTAMP: pd.Timestamp(first.card.evaluation["feature_time"])})
        ),
        view,
    ).toPandas()
    changed = seen_later["plays_7d"].fillna(0) != at_feature_time["plays_7d"].fillna(0)
    assert changed.any()

    # ...and the model trained as of the feature day is exactly the same.
    second = train_engagement(config, spark, day, epochs=40, seed=0)
    assert second.card.version != first.card.version
    assert second.card.feature_means == first.card.feature_means
    assert second.card.metrics == first.card.metrics
    model_root = layout.model_dir("engagement")
    pd.testing.assert_frame_equal(
        pd.read_parquet(model_root / second.card.version / TEST_PREDICTIONS_FILE),
        pd.read_parquet(model_root / first.card.version / TEST_PREDICTIONS_FILE),
    )
