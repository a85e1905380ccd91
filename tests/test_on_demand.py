"""Request-time features: the same values as the batch job, online through Feast, and in training."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from content_signals.config import PlatformConfig
from content_signals.definitions import CONTENT_METADATA
from content_signals.errors import SignalsError
from content_signals.feature_repo.on_demand import OUTPUTS, upload_text_features
from content_signals.feature_repo.training_sets import OnDemandRequest, ViewRequest, build_training_set
from content_signals.jobs import content_metadata
from content_signals.layout import DataLayout
from tests.rows import CONTENT_SCHEMA, CREATED, DAY

TEXTS = [
    ("  Hello World ", "abc"),
    (None, "   "),
    ("FREE BEATS free \N{FIRE}", "beats beats beats beats beats beats beats beats visit www.beats.example "),
    ("ÉCOLE école", "see HTTPS://x.example"),
    ("", None),
]
NAMES = [o.name for o in OUTPUTS]


def _inputs() -> pd.DataFrame:
    return pd.DataFrame({"upload_title": [t for t, _ in TEXTS], "upload_description": [d for _, d in TEXTS]})


def test_request_time_values_equal_the_batch_signals(spark: SparkSession) -> None:
    rows = [
        (f"c{i}", "track", title, description, "cr1", 1000, False, date(2026, 1, 1), "en")
        for i, (title, description) in enumerate(TEXTS)
    ]
    batch = content_metadata.JOB.compute(
        DAY, CREATED, content=spark.createDataFrame(rows, CONTENT_SCHEMA)
    ).toPandas()
    online = upload_text_features(_inputs())
    for name in NAMES:
        batch_name = name.removeprefix("upload_")
        assert online[name].tolist() == pytest.approx(batch[batch_name].tolist()), name


def test_online_through_feast_and_in_training(
    spark: SparkSession, platform_config: PlatformConfig, tmp_path: Path
) -> None:
    from content_signals.feature_repo.repo import build_objects, feature_store

    config = platform_config.model_copy(update={"data_dir": tmp_path})
    store = feature_store(config)
    store.apply(build_objects(config).all())
    inputs = _inputs().fillna("")
    response = store.get_online_features(
        features=[f"upload_text_features:{name}" for name in NAMES],
        entity_rows=[{"creator_id": "nobody", **row} for row in inputs.to_dict("records")],
    ).to_dict()
    expected = upload_text_features(inputs)
    for name in NAMES:
        assert response[name] == pytest.approx(expected[name].tolist()), name

    entities = spark.createDataFrame(
        inputs.assign(
            content_id=[f"c{i}" for i in range(len(inputs))], event_timestamp=datetime(2026, 3, 1, tzinfo=UTC)
        )
    )
    frame = build_training_set(
        spark,
        DataLayout(tmp_path),
        entities,
        [ViewRequest(CONTENT_METADATA, ("title_length",))],
        on_demand=OnDemandRequest(tuple(NAMES)),
    ).toPandas()
    for name in NAMES:
        assert frame[name].tolist() == pytest.approx(expected[name].tolist()), name
    assert frame["title_length"].isna().all()  # nothing published here: null, row kept

    with pytest.raises(SignalsError, match="upload_description"):
        build_training_set(
            spark,
            DataLayout(tmp_path),
            entities.drop("upload_description"),
            [ViewRequest(CONTENT_METADATA, ("title_length",))],
            on_demand=OnDemandRequest(tuple(NAMES)),
        )
