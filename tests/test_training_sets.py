"""Point-in-time training sets: exact TTL and "not after" boundaries, no dropped rows, key lookups,
labels, and the same values as Feast's own Spark retrieval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from content_signals.config import PlatformConfig, load_config
from content_signals.definitions import CONTENT_METADATA, CREATOR_PROFILE, SignalTable
from content_signals.errors import SignalsError
from content_signals.feature_repo.training_sets import (
    LabelTable,
    ViewRequest,
    build_training_set,
    write_training_set,
)
from content_signals.layout import DataLayout
from content_signals.partitions import output_schema

E = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # the entity rows' timestamp
MICRO = timedelta(microseconds=1)
METADATA_TTL = CONTENT_METADATA.ttl
CREATOR_TTL = CREATOR_PROFILE.ttl


def _write_rows(
    spark: SparkSession, layout: DataLayout, table: SignalTable, rows: list[dict[str, Any]]
) -> None:
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in output_schema(table)])
    full = [{field.name: row.get(field.name) for field in schema} for row in rows]
    frame = spark.createDataFrame(full, schema)
    frame.write.mode("append").parquet(str(layout.signal_table_dir(table.name) / "date=2026-03-09"))


def _metadata(
    content_id: str,
    at: datetime,
    title_length: int,
    creator: str | None = None,
    created: datetime | None = None,
) -> dict[str, Any]:
    return {
        "content_id": content_id,
        "event_timestamp": at,
        "created_timestamp": created or at,
        "title_length": title_length,
        "item_creator_id": creator,
    }


def _creator(creator_id: str, at: datetime, items: int) -> dict[str, Any]:
    return {"creator_id": creator_id, "event_timestamp": at, "created_timestamp": at, "catalogue_size": items}


@pytest.fixture(scope="module")
def offline_store(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    layout = DataLayout(tmp_path_factory.mktemp("pit"))
    _write_rows(
        spark,
        layout,
        CONTENT_METADATA,
        [
            # c-at: a value exactly at E counts; one a microsecond later never does.
            _metadata("c-at", E, 1, creator="cr-1"),
            _metadata("c-at", E + MICRO, 999, creator="cr-late"),
            # c-ttl: exactly TTL old still counts.
            _metadata("c-ttl", E - METADATA_TTL, 2, creator="cr-2"),
            # c-old: one microsecond older than the TTL does not.
            _metadata("c-old", E - METADATA_TTL - MICRO, 3),
            # c-rerun: two runs of the same partition: the later created one wins.
            _metadata("c-rerun", E - timedelta(days=1), 4, created=E - timedelta(hours=20)),
            _metadata("c-rerun", E - timedelta(days=1), 5, created=E - timedelta(hours=10)),
            # c-newest: the newest value at or before E wins.
            _metadata("c-newest", E - timedelta(days=3), 6),
            _metadata("c-newest", E - timedelta(days=1), 7),
        ],
    )
    _write_rows(
        spark,
        layout,
        CREATOR_PROFILE,
        [
            _creator("cr-1", E - timedelta(days=1), 10),
            _creator("cr-1", E + MICRO, 11),  # after E: never
            _creator("cr-2", E - CREATOR_TTL - MICRO, 20),  # too old
            _creator("cr-late", E - timedelta(days=1), 30),  # only reachable through a leaked key
        ],
    )
    return layout


def _entities(spark: SparkSession, ids: list[str], at: datetime = E) -> DataFrame:
    return spark.createDataFrame(pd.DataFrame({"content_id": ids, "event_timestamp": [at] * len(ids)}))


VIEWS = [
    ViewRequest(CONTENT_METADATA, ("title_length", "item_creator_id")),
    ViewRequest(CREATOR_PROFILE, ("catalogue_size",)),
]


# The features of VIEWS, and the creator key looked up to reach creator_profile.
FEATURES = ["title_length", "item_creator_id", "creator_id", "catalogue_size"]


def _rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The frame's entity key and features row by row, in order, a missing value as None."""
    columns = frame[["content_id", *FEATURES]].astype(object)
    return [tuple(columns.where(columns.notna(), None).iloc[i]) for i in range(len(columns))]


def test_boundaries_nothing_dropped_and_order_kept(spark: SparkSession, offline_store: DataLayout) -> None:
    ids = ["c-at", "c-ttl", "c-old", "c-rerun", "c-newest", "c-unknown", "c-at"]
    result = build_training_set(spark, offline_store, _entities(spark, ids), VIEWS).toPandas()

    assert sorted(result.columns) == sorted(["content_id", "event_timestamp", *FEATURES])
    assert (pd.to_datetime(result["event_timestamp"], utc=True) == E).all()  # the entity rows' own time
    # Every row, in the entity file's order, duplicates too. The creator is looked up point in time
    # through item_creator_id, then joined with its own TTL.
    assert _rows(result) == [
        ("c-at", 1, "cr-1", "cr-1", 10),  # at E: in; E + 1 µs: out (title 999 and creator cr-late)
        ("c-ttl", 2, "cr-2", "cr-2", None),  # exactly TTL old: in; the creator's profile is 1 µs too old
        ("c-old", None, None, None, None),  # TTL + 1 µs old: out, but the row stays
        ("c-rerun", 5, None, None, None),  # two runs of one partition: the later created wins
        ("c-newest", 7, None, None, None),  # the newest value at or before E
        ("c-unknown", None, None, None, None),
        ("c-at", 1, "cr-1", "cr-1", 10),
    ]


def test_a_later_change_changes_nothing_before_it(spark: SparkSession, offline_store: DataLayout) -> None:
    """No leakage: an entity row one microsecond before a value sees what was there before it, in every
    view; from that microsecond on it sees the value."""
    day = timedelta(days=1)
    at = [("c-at", E - MICRO), ("c-at", E), ("c-newest", E - day - MICRO), ("c-newest", E - day)]
    entities = spark.createDataFrame(pd.DataFrame(at, columns=["content_id", "event_timestamp"]))
    result = build_training_set(spark, offline_store, entities, VIEWS).toPandas()
    assert _rows(result) == [
        ("c-at", None, None, None, None),  # neither the title nor the creator at E is there yet
        ("c-at", 1, "cr-1", "cr-1", 10),
        ("c-newest", 6, None, None, None),  # the value of E - 3 days, not yet the one of E - 1 day
        ("c-newest", 7, None, None, None),
    ]


def test_labels_join_point_in_time(spark: SparkSession, offline_store: DataLayout) -> None:
    labels = spark.createDataFrame(
        pd.DataFrame(
            {
                "content_id": ["c-at", "c-at", "c-ttl"],
                "event_timestamp": [E - timedelta(days=2), E + MICRO, E - timedelta(days=40)],
                "is_explicit_label": [False, True, True],
            }
        )
    )
    frame = build_training_set(
        spark,
        offline_store,
        _entities(spark, ["c-at", "c-ttl", "c-old"]),
        VIEWS[:1],
        [LabelTable(labels, "content_id", ttl=timedelta(days=30))],
    ).toPandas()
    assert frame.loc[0, "is_explicit_label"] == False  # noqa: E712 (the later True is not yet known)
    assert pd.isna(frame.loc[1, "is_explicit_label"])  # older than the label TTL
    assert pd.isna(frame.loc[2, "is_explicit_label"])


def test_missing_timestamp_and_clashing_names_are_clear_errors(
    spark: SparkSession, offline_store: DataLayout
) -> None:
    with pytest.raises(SignalsError, match="event_timestamp"):
        build_training_set(spark, offline_store, spark.createDataFrame([("c-at",)], ["content_id"]), VIEWS)
    clash = (
        _entities(spark, ["c-at"])
        .withColumnRenamed("event_timestamp", "ts")
        .selectExpr("content_id", "ts as event_timestamp", "1 as title_length")
    )
    with pytest.raises(SignalsError, match="title_length"):
        build_training_set(spark, offline_store, clash, VIEWS)


def test_same_values_as_feast_spark_retrieval(
    spark: SparkSession, offline_store: DataLayout, tmp_path: Path
) -> None:
    """Our join against Feast's own get_historical_features on the same offline store."""
    from content_signals.feature_repo.repo import build_objects, feature_store

    config = load_config(
        overrides={
            "data_dir": str(offline_store.root),
            "spark": {"master": "local[2]", "shuffle_partitions": 2},
        }
    )
    store = feature_store(config)
    store.apply(build_objects(config).all())
    ids = ["c-at", "c-ttl", "c-old", "c-rerun", "c-newest", "c-unknown"]
    entity_df = pd.DataFrame(
        {"content_id": ids, "creator_id": ["cr-1", "cr-2", "x", "x", "x", "x"], "event_timestamp": E}
    )
    refs = [
        "content_metadata:title_length",
        "content_metadata:item_creator_id",
        "creator_profile:catalogue_size",
    ]
    theirs = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    ours = build_training_set(spark, offline_store, spark.createDataFrame(entity_df), VIEWS).toPandas()
    merged = ours.merge(theirs, on=["content_id", "creator_id"], suffixes=("", "_feast"))
    assert len(merged) == len(ids)
    for column in ("title_length", "item_creator_id", "catalogue_size"):
        pd.testing.assert_series_equal(
            merged[column].astype(object).where(merged[column].notna(), None),
            merged[f"{column}_feast"].astype(object).where(merged[f"{column}_feast"].notna(), None),
            check_names=False,
            check_dtype=False,
        )


def test_the_command_writes_every_row(
    spark: SparkSession, offline_store: DataLayout, platform_config: PlatformConfig, tmp_path: Path
) -> None:
    from content_signals.feature_repo.repo import build_objects, feature_store

    config = platform_config.model_copy(update={"data_dir": offline_store.root})
    feature_store(config).apply(build_objects(config).all())
    entities = tmp_path / "entities.csv"
    entities.write_text(
        "content_id,event_timestamp\nc-at,2026-03-10T12:00:00Z\nc-unknown,2026-03-10T12:00:00Z\n"
    )
    out = tmp_path / "set"
    summary = write_training_set(config, spark, entities, "ranking_v1", out)
    written = pd.read_parquet(out)
    assert summary.rows == len(written) == 2
    assert written.loc[0, "title_length"] == 1 and written.loc[0, "catalogue_size"] == 10
    with pytest.raises(SignalsError, match="already exists"):
        write_training_set(config, spark, entities, "ranking_v1", out)
    with pytest.raises(SignalsError, match="unknown feature service"):
        write_training_set(config, spark, entities, "nope_v9", tmp_path / "other")
