"""Point-in-time training sets in Spark: every entity row back, each feature as it was known then.

For each entity row (join keys + ``event_timestamp``) and each feature view of a feature service,
the value is the view's row for that key with the latest ``event_timestamp`` that is

* not after the entity row's timestamp (a value timestamped later never leaks into training), and
* not older than the view's TTL: ``row timestamp >= entity timestamp - ttl`` (a value exactly TTL
  old still counts, as in Feast's own retrieval and online reads; one microsecond older does not),

ties broken by the latest ``created_timestamp``. Rows without such a value keep their place with
nulls: nothing is ever dropped (Feast's file offline store drops them; see the stack notes).

The offline store is ``signals/<table>/``: only partitions that passed the quality gate are there.
Join keys the entity rows lack (a content row's ``creator_id``) are looked up point in time through
the signal that refers to them (``content_metadata.item_creator_id``), as online reads do.
Labels are another timestamped table, joined by the same rule (with an optional TTL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from content_signals.config import PlatformConfig
from content_signals.definitions import (
    CREATED_TIMESTAMP,
    ENTITY_TIMESTAMP,
    SIGNAL_TABLES,
    SignalTable,
    key_lookup,
)
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.partitions import SPARK_TYPES, output_schema

ROW_ID = "_entity_row"


@dataclass(frozen=True)
class ViewRequest:
    """Some features of one signal table, as a feature service projects them."""

    table: SignalTable
    features: tuple[str, ...]


@dataclass(frozen=True)
class OnDemandRequest:
    """Some outputs of the request-time view (:mod:`content_signals.feature_repo.on_demand`), computed per
    row."""

    features: tuple[str, ...]


def with_on_demand(frame: DataFrame, request: OnDemandRequest) -> DataFrame:
    """Run the request-time view's own pandas function over every row (the online code path)."""
    from content_signals.feature_repo.on_demand import INPUTS, OUTPUTS, VIEW_NAME, upload_text_features

    missing = [name for name in INPUTS if name not in frame.columns]
    if missing:
        raise SignalsError(
            f"{VIEW_NAME} needs the request inputs {', '.join(missing)} as columns of the entity rows"
        )
    outputs = [o for o in OUTPUTS if o.name in request.features]
    schema = T.StructType(
        [*frame.schema.fields, *(T.StructField(o.name, SPARK_TYPES[o.dtype]) for o in outputs)]
    )
    names = [o.name for o in outputs]

    def transform(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            computed = upload_text_features(batch[list(INPUTS)])
            yield pd.concat([batch, computed[names]], axis=1)

    return frame.mapInPandas(transform, schema)


@dataclass(frozen=True)
class LabelTable:
    """Timestamped labels keyed by one join key; every other column is a label."""

    frame: DataFrame
    join_key: str
    ttl: timedelta | None = None

    @property
    def labels(self) -> list[str]:
        return [
            c for c in self.frame.columns if c not in (self.join_key, ENTITY_TIMESTAMP, CREATED_TIMESTAMP)
        ]


def read_table_file(spark: SparkSession, path: Path, what: str) -> DataFrame:
    """A CSV (with a header) or Parquet file or folder, with ``event_timestamp`` as a timestamp."""
    if not path.exists():
        raise SignalsError(f"{what} file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = spark.read.option("header", True).csv(str(path))
    elif suffix in (".parquet", "") or path.is_dir():
        frame = spark.read.parquet(str(path))
    else:
        raise SignalsError(f"{what} file {path} must be .csv or .parquet")
    if ENTITY_TIMESTAMP not in frame.columns:
        raise SignalsError(f"{what} file {path} has no {ENTITY_TIMESTAMP} column")
    stamp = F.col(ENTITY_TIMESTAMP)
    if not isinstance(frame.schema[ENTITY_TIMESTAMP].dataType, T.TimestampType):
        stamp = F.to_timestamp(stamp)
    frame = frame.withColumn(ENTITY_TIMESTAMP, stamp)
    if CREATED_TIMESTAMP in frame.columns and not isinstance(
        frame.schema[CREATED_TIMESTAMP].dataType, T.TimestampType
    ):
        frame = frame.withColumn(CREATED_TIMESTAMP, F.to_timestamp(CREATED_TIMESTAMP))
    bad = frame.where(F.col(ENTITY_TIMESTAMP).isNull()).limit(1).count()
    if bad:
        raise SignalsError(
            f"{what} file {path}: {ENTITY_TIMESTAMP} is missing or not a timestamp in some rows"
        )
    return frame


def _signal_rows(
    spark: SparkSession, layout: DataLayout, table: SignalTable, columns: Sequence[str]
) -> DataFrame:
    """The validated rows of ``table`` (all partitions), or none when nothing was published yet."""
    directory = layout.signal_table_dir(table.name)
    wanted = [table.entity.join_key, ENTITY_TIMESTAMP, CREATED_TIMESTAMP, *columns]
    if not directory.is_dir() or not any(directory.glob("date=*")):
        schema = output_schema(table)
        return spark.createDataFrame([], T.StructType([schema[c] for c in wanted]))
    return spark.read.parquet(str(directory)).select(*wanted)


def point_in_time(
    entities: DataFrame,
    rows: DataFrame,
    join_key: str,
    values: Sequence[str],
    ttl: timedelta | None,
    aliases: dict[str, str] | None = None,
) -> DataFrame:
    """``entities`` (with a unique ``ROW_ID``) plus, per row, ``values`` from the latest row of ``rows``
    with the same key, timestamped at or before the entity's timestamp and within ``ttl``."""
    names = aliases or {}
    candidates = rows.select(
        F.col(join_key).alias("_key"),
        F.col(ENTITY_TIMESTAMP).alias("_value_ts"),
        (
            F.col(CREATED_TIMESTAMP) if CREATED_TIMESTAMP in rows.columns else F.lit(None).cast("timestamp")
        ).alias("_created_ts"),
        F.struct(*[F.col(v).alias(names.get(v, v)) for v in values]).alias("_values"),
    )
    probe = entities.select(
        ROW_ID, F.col(join_key).alias("_key"), F.col(ENTITY_TIMESTAMP).alias("_entity_ts")
    )
    condition: Column = F.col("_value_ts") <= F.col("_entity_ts")
    if ttl is not None:
        condition = condition & (
            F.col("_value_ts")
            >= F.col("_entity_ts") - F.make_dt_interval(secs=F.lit(ttl.total_seconds()).cast("decimal(18,6)"))
        )
    matched = (
        probe.join(candidates, "_key")
        .where(condition)
        .groupBy(ROW_ID)
        .agg(F.max_by("_values", F.struct("_value_ts", "_created_ts")).alias("_values"))
    )
    return entities.join(matched, ROW_ID, "left").select("*", "_values.*").drop("_values")


@dataclass(frozen=True)
class TrainingSetSummary:
    rows: int
    features: int
    seconds: float
    null_share: dict[str, float]


def build_training_set(
    spark: SparkSession,
    layout: DataLayout,
    entities: DataFrame,
    views: Sequence[ViewRequest],
    labels: Sequence[LabelTable] = (),
    progress: Callable[[str], None] = lambda _line: None,
    on_demand: OnDemandRequest | None = None,
) -> DataFrame:
    """Every row of ``entities`` in its original order, with the requested features and labels."""
    _check_names(entities, views, labels)
    # Row ids are materialised once: every join below must see the same id for the same row.
    frame = entities.withColumn(ROW_ID, F.monotonically_increasing_id()).localCheckpoint(eager=True)
    for key in _missing_keys(frame, views):
        table, signal = key_lookup(key, tuple(frame.columns))
        progress(f"looking up {key} through {table.name}.{signal.name} (point in time)")
        rows = _signal_rows(spark, layout, table, [signal.name])
        frame = point_in_time(
            frame, rows, table.entity.join_key, [signal.name], table.ttl, {signal.name: key}
        )
    for request in views:
        rows = _signal_rows(spark, layout, request.table, request.features)
        frame = point_in_time(frame, rows, request.table.entity.join_key, request.features, request.table.ttl)
        progress(f"joining {request.table.name} point in time: {len(request.features)} features")
    for label in labels:
        frame = point_in_time(frame, label.frame, label.join_key, label.labels, label.ttl)
    if on_demand is not None:
        frame = with_on_demand(frame, on_demand)
    return frame.orderBy(ROW_ID).drop(ROW_ID)


def _check_names(entities: DataFrame, views: Sequence[ViewRequest], labels: Sequence[LabelTable]) -> None:
    if ENTITY_TIMESTAMP not in entities.columns:
        raise SignalsError(f"entity rows need an {ENTITY_TIMESTAMP} column")
    seen: dict[str, str] = {c: "the entity rows" for c in entities.columns}
    for request in views:
        for feature in request.features:
            if feature in seen:
                raise SignalsError(
                    f"feature {feature!r} of {request.table.name} clashes with a column of {seen[feature]}"
                )
            seen[feature] = request.table.name
    for label in labels:
        if label.join_key not in entities.columns and not any(
            v.table.entity.join_key == label.join_key for v in views
        ):
            raise SignalsError(f"labels are keyed by {label.join_key!r}, which the entity rows do not have")
        for name in label.labels:
            if name in seen:
                raise SignalsError(f"label {name!r} clashes with a column of {seen[name]}")
            seen[name] = "the labels"


def _missing_keys(entities: DataFrame, views: Sequence[ViewRequest]) -> list[str]:
    keys = {v.table.entity.join_key for v in views}
    if not keys & set(entities.columns):
        raise SignalsError(
            f"entity rows need at least one of the join keys {', '.join(sorted(keys))}; they have "
            f"{', '.join(entities.columns)}"
        )
    return sorted(k for k in keys if k not in entities.columns)


@dataclass(frozen=True)
class ServiceRequest:
    """What a feature service asks for: signal-table features, and request-time ones if any."""

    views: list[ViewRequest]
    on_demand: OnDemandRequest | None = None


def service_views(projections: Sequence[tuple[str, Sequence[str]]]) -> ServiceRequest:
    """The signal tables and features of a feature service's projections (view name, features)."""
    from content_signals.feature_repo.on_demand import VIEW_NAME

    requests, on_demand = [], None
    for view, features in projections:
        if view == VIEW_NAME:
            on_demand = OnDemandRequest(tuple(features))
            continue
        table = SIGNAL_TABLES.get(view)
        if table is None:
            raise SignalsError(f"feature view {view!r} is neither a signal table nor {VIEW_NAME}")
        requests.append(ViewRequest(table, tuple(features)))
    return ServiceRequest(requests, on_demand)


def feature_service_views(config: PlatformConfig, name: str) -> ServiceRequest:
    """The views and features of a feature service as the Feast registry holds it."""
    from feast.errors import FeatureServiceNotFoundException

    from content_signals.feature_repo.repo import feature_store

    try:
        service = feature_store(config).get_feature_service(name)
    except FeatureServiceNotFoundException:
        raise SignalsError(
            f"unknown feature service {name!r}: run `signals publish` (or `signals plan`) first"
        ) from None
    return service_views([(p.name, [f.name for f in p.features]) for p in service.feature_view_projections])


def check_training_set_paths(entities: Path, out: Path, labels: Path | None = None) -> None:
    """Fail before any engine starts: the inputs exist and the output does not."""
    if out.exists():
        raise SignalsError(f"{out} already exists: choose another --out or remove it")
    for given, what in ((entities, "entities"), (labels, "labels")):
        if given is not None and not given.exists():
            raise SignalsError(f"{what} file {given} does not exist")


def write_training_set(
    config: PlatformConfig,
    spark: SparkSession,
    entities_path: Path,
    feature_service: str,
    out: Path,
    labels_path: Path | None = None,
    label_ttl: timedelta | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> TrainingSetSummary:
    """``signals training-set``: read the entity rows, join point in time, write Parquet atomically."""
    check_training_set_paths(entities_path, out, labels_path)
    started = time.perf_counter()
    request = feature_service_views(config, feature_service)
    views = request.views
    entities = read_table_file(spark, entities_path, "entities")
    labels = []
    if labels_path is not None:
        label_frame = read_table_file(spark, labels_path, "labels")
        keys = [c for c in label_frame.columns if c in {v.table.entity.join_key for v in views}]
        if len(keys) != 1:
            raise SignalsError(
                f"labels file {labels_path} must have exactly one join key column of the service's views"
            )
        labels.append(LabelTable(label_frame, keys[0], label_ttl))
    layout = DataLayout(config.data_dir)
    names = [name for v in views for name in v.features] + list(
        request.on_demand.features if request.on_demand else ()
    )
    frame = build_training_set(spark, layout, entities, views, labels, progress, request.on_demand).persist()
    try:
        staged = out.with_name(f".{out.name}.partial")
        frame.write.mode("overwrite").parquet(str(staged))
        staged.rename(out)
        counts = frame.agg(
            F.count(F.lit(1)).alias("_rows"),
            *[F.count(name).alias(name) for name in names],
        ).first()
    finally:
        frame.unpersist()
    assert counts is not None
    rows = int(counts["_rows"])
    null_share = {name: (1.0 - counts[name] / rows) if rows else 0.0 for v in views for name in v.features}
    summary = TrainingSetSummary(
        rows=rows,
        features=sum(len(v.features) for v in views),
        seconds=time.perf_counter() - started,
        null_share=null_share,
    )
    progress(
        f"training set: {rows:,} rows x {summary.features} features from {feature_service} "
        f"written to {out} in {summary.seconds:.1f}s"
    )
    return summary
