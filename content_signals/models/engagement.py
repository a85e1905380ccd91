"""Train the ``quality`` model: will an item be played more than the median item next week?

Features come from a point-in-time training set (:mod:`content_signals.feature_repo.training_sets`) of the
``ranking_v1`` service, as the Feast registry holds it, as of the end of the training date; the
label is computed from listening events strictly after that moment (the following 7 days), so no
feature can contain information about the label.

A fixed 20% of items (by a hash of the id) is held out: the network never trains on them and no
choice is made on them, so they are this model's test split. Their predictions are stored with the
version, with the slices the model card reports (content type, language, creator size band), each
as known at the feature time, so ``signals evaluate engagement`` can rebuild the card at any time.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import torch
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from scipy.stats import rankdata

from content_signals.config import PlatformConfig
from content_signals.definitions import ENTITY_TIMESTAMP, SIGNAL_TABLES
from content_signals.errors import SignalsError
from content_signals.feature_repo.training_sets import build_training_set, feature_service_views
from content_signals.layout import DataLayout
from content_signals.models.evaluation import (
    CREATOR_SIZE_BANDS,
    band_labels,
    flat_metrics,
    known_or_unknown,
)
from content_signals.models.networks import (
    TEST_PREDICTIONS_FILE,
    EngagementNet,
    ModelCard,
    save_model,
)
from content_signals.models.registry import next_version
from content_signals.partitions import partition_timestamp

MODEL_NAME = "engagement"
FEATURE_SERVICE = "ranking_v1"
# The tables behind FEATURE_SERVICE: each needs a validated partition for the training date.
FEATURE_TABLES = ("content_engagement", "content_metadata", "content_audio", "creator_profile")
LABEL_DAYS = 7
HIDDEN_UNITS = [32, 16]
TARGET = "1 when the item's plays in the 7 days after the feature timestamp exceed the median item's, else 0"
# The target's two values as card classes (index = label), so model cards and promotion gates
# treat this binary model like any classifier. Serving reads only the positive-class probability.
CLASSES = ("not_above_median", "above_median")
HELD_OUT_SPLIT = "items with crc32(content_id) % 5 == 0 (20%): never trained on, nothing chosen on them"


@dataclass(frozen=True)
class TrainingResult:
    card: ModelCard
    path: str
    rows: int


def numeric_features(feature_service_views: list[tuple[str, list[str]]]) -> list[str]:
    """The service's int, double and bool features in a stable order (strings and vectors are not
    inputs of the MLP)."""
    names = []
    for view, features in feature_service_views:
        table = SIGNAL_TABLES[view]
        names += [f for f in features if table.signal(f).dtype in ("int64", "double", "bool")]
    return names


def _label_days(day: date) -> list[date]:
    return [day + timedelta(days=i) for i in range(1, LABEL_DAYS + 1)]


def check_trainable(layout: DataLayout, day: date) -> None:
    """Raise unless the features and the label's events for ``day`` exist (no engine needed)."""
    for table in FEATURE_TABLES:
        if not layout.signal_partition(table, day).exists():
            raise SignalsError(
                f"no validated {table} partition for {day.isoformat()}: "
                f"run `signals jobs run {table} --date {day.isoformat()}` first"
            )
    missing = [d.isoformat() for d in _label_days(day) if not layout.events_partition(d).exists()]
    if missing:
        raise SignalsError(
            f"cannot label {day.isoformat()}: listening events for the following {LABEL_DAYS} days "
            f"are needed and {', '.join(missing)} are missing"
        )


def future_plays(spark: SparkSession, layout: DataLayout, day: date) -> pd.DataFrame:
    """Plays per item in the ``LABEL_DAYS`` days after ``day`` (the label's raw material)."""
    label_days = _label_days(day)
    events = spark.read.parquet(*[str(layout.events_partition(d)) for d in label_days])
    content = spark.read.parquet(str(layout.content_path)).select("content_id")
    plays = events.groupBy("content_id").agg(F.count(F.lit(1)).alias("future_plays"))
    joined = content.join(plays, "content_id", "left").fillna(0, subset=["future_plays"])
    return joined.toPandas()


def catalogue_content_types(spark: SparkSession, layout: DataLayout) -> pd.DataFrame:
    """Each item's content type, a slice of the model card. It is a fixed attribute of an item (a
    track never becomes an episode) and no signal carries it, so the catalogue is the source."""
    return spark.read.parquet(str(layout.content_path)).select("content_id", "content_type").toPandas()


def slice_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model card's slice values per training-set row, all as known at the feature time: the
    content type, the ``content_metadata.language`` signal and the creator's ``catalogue_size``
    (joined point in time through ``item_creator_id``), banded. Missing values are ``unknown``."""
    return {
        "content_type": known_or_unknown(frame["content_type"]),
        "language": known_or_unknown(frame["language"]),
        "creator_size_band": band_labels(frame["catalogue_size"], CREATOR_SIZE_BANDS),
    }


def held_out_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """The card's metrics on the held-out items: ``test_*`` as the safety model reports them (what
    the promotion gates read), and the older ``validation_*`` names that earlier quality versions
    carry (the same held-out items), so a new version still compares with them."""
    scores = probabilities[:, CLASSES.index("above_median")]
    metrics = {f"test_{k}": v for k, v in flat_metrics(labels, probabilities, list(CLASSES)).items()}
    metrics["validation_roc_auc"] = roc_auc(labels, scores)
    metrics["validation_accuracy"] = float((probabilities.argmax(axis=1) == labels).mean())
    return metrics


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _in_validation(content_id: str) -> bool:
    """A stable 80/20 split by id, so retraining on the same data gives the same split."""
    return zlib.crc32(content_id.encode()) % 5 == 0


def train_engagement(
    config: PlatformConfig,
    spark: SparkSession,
    day: date,
    progress: Callable[[str], None] = lambda _line: None,
    epochs: int = 300,
    seed: int = 0,
) -> TrainingResult:
    layout = DataLayout(config.data_dir)
    check_trainable(layout, day)
    labels = future_plays(spark, layout, day)
    feature_time = partition_timestamp(day)
    entity_df = pd.DataFrame(
        {"content_id": labels["content_id"], ENTITY_TIMESTAMP: pd.Timestamp(feature_time)}
    )
    views = feature_service_views(config, FEATURE_SERVICE).views
    features = numeric_features([(v.table.name, list(v.features)) for v in views])
    progress(
        f"training set: {len(entity_df):,} items as of {feature_time.isoformat()}, "
        f"{len(features)} features from {FEATURE_SERVICE}"
    )
    frame: pd.DataFrame = build_training_set(
        spark, layout, spark.createDataFrame(entity_df), views, progress=progress
    ).toPandas()
    if len(frame) != len(entity_df):
        raise SignalsError(f"training set has {len(frame)} rows for {len(entity_df)} entities")
    frame = frame.merge(labels, on="content_id", how="inner").merge(
        catalogue_content_types(spark, layout), on="content_id", how="left"
    )
    target = (frame["future_plays"] > frame["future_plays"].median()).astype(np.float32).to_numpy()

    values = frame[features].astype("float64").to_numpy()
    means = np.nanmean(values, axis=0)
    stds = np.nanstd(values, axis=0)
    stds = np.where(stds > 0, stds, 1.0)
    standardised = np.nan_to_num((values - means) / stds, nan=0.0).astype(np.float32)

    validation = frame["content_id"].map(_in_validation).to_numpy()
    x_train, y_train = torch.from_numpy(standardised[~validation]), torch.from_numpy(target[~validation])
    torch.manual_seed(seed)
    network = EngagementNet(len(features), HIDDEN_UNITS)
    optimiser = torch.optim.Adam(network.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for epoch in range(1, epochs + 1):
        optimiser.zero_grad()
        loss = loss_fn(network(x_train), y_train)
        loss.backward()
        optimiser.step()
        if epoch % 100 == 0 or epoch == epochs:
            progress(f"epoch {epoch}/{epochs}: training loss {loss.item():.4f}")

    network.eval()
    with torch.no_grad():
        scores = torch.sigmoid(network(torch.from_numpy(standardised[validation]))).numpy()
    y_val = target[validation].astype(np.int64)
    # In float64: 1 - p in float32 would round distinct scores together, so the two classes'
    # ROC-AUCs (and the card's macro ROC-AUC) would no longer equal the positive class's.
    positive = scores.astype(np.float64)
    probabilities = np.column_stack([1.0 - positive, positive])
    metrics = {
        **held_out_metrics(y_val, probabilities),
        "validation_rows": float(validation.sum()),
        "training_rows": float((~validation).sum()),
        "positive_rate": float(target.mean()),
    }
    model_root = layout.model_dir(MODEL_NAME)
    card = ModelCard(
        name=MODEL_NAME,
        version=next_version(model_root),
        feature_service=FEATURE_SERVICE,
        features=features,
        feature_means=[float(v) for v in means],
        feature_stds=[float(v) for v in stds],
        hidden_units=HIDDEN_UNITS,
        target=TARGET,
        training_partition=day.isoformat(),
        trained_at=datetime.now(UTC).isoformat(),
        metrics=metrics,
        classes=list(CLASSES),
        evaluation={
            "held_out_split": HELD_OUT_SPLIT,
            "feature_time": feature_time.isoformat(),
            # The label's events: the first and last day counted (inclusive).
            "label_window": [_label_days(day)[0].isoformat(), _label_days(day)[-1].isoformat()],
        },
    )
    held_out = frame.loc[validation]
    predictions = pd.DataFrame(
        {
            "content_id": held_out["content_id"].to_numpy(),
            "label": y_val,
            **{f"p_{name}": probabilities[:, index] for index, name in enumerate(CLASSES)},
            **slice_columns(held_out),
        }
    )
    path = save_model(
        model_root, card, network, extra_files={TEST_PREDICTIONS_FILE: predictions.to_parquet(index=False)}
    )
    progress(
        f"{MODEL_NAME} {card.version}: held-out ROC-AUC {metrics['validation_roc_auc']:.3f}, "
        f"accuracy {metrics['validation_accuracy']:.3f}, weighted F1 {metrics['test_weighted_f1']:.3f}; "
        f"saved to {path}"
    )
    return TrainingResult(card=card, path=str(path), rows=len(frame))
