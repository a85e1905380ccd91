"""The review loop: items the safety policy sends to review go out as an annotation batch, and the
reviewers' labels come back as timestamped training labels.

Export takes the scores of the served version of the model (the promoted one, else the newest):
from the newest published ``content_safety`` partition when that version computed it (the daily
job already scored the whole catalogue), otherwise by scoring the catalogue in Spark now. It writes
the items that the version's policy sends to REVIEW (:func:`content_signals.models.decisions.decide_version`)
as JSONL or CSV, with the text the reviewer must judge and the signals behind the decision. Import
checks every row before writing anything, then stores the labelled rows as one Parquet file under
``labels/<model>/``: content id, the text as reviewed, the label, who and when. The next
``signals train safety`` adds them to its training split (never to the fixed test split, so
versions stay comparable), up to an optional ``--labels-until`` time.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from content_signals.config import PlatformConfig
from content_signals.definitions import CONTENT_SAFETY, Decision
from content_signals.errors import SignalsError
from content_signals.files import write_atomic
from content_signals.layout import DataLayout
from content_signals.models.batch_scoring import ClassifierVersion, score_content, version_decision_column
from content_signals.models.registry import default_version, read_card
from content_signals.models.safety import CLASSES, LabelledTexts
from content_signals.text import text_of

# Columns an annotation batch carries; reviewers fill ``label`` (one of CLASSES).
EXPORT_COLUMNS = (
    "content_id", "text", "title", "description", "content_type", "language", "creator_id",
    "unsafe_score", *(f"p_{c}" for c in CLASSES), "decision_reason", "model", "model_version",
    "review_threshold", "block_threshold", "exported_at", "label",
)  # fmt: skip


def _riskiest_first() -> list[Column]:
    """The batch order: highest unsafe score first, content id breaking ties so that two
    exports of the same scores list the same items in the same order."""
    return [F.col("unsafe_score").desc(), F.col("content_id").asc()]


LABEL_SCHEMA = pa.schema(
    [
        ("content_id", pa.string()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("class", pa.int64()),
        ("reviewer", pa.string()),
        ("reviewed_at", pa.timestamp("us", tz="UTC")),
        ("imported_at", pa.timestamp("us", tz="UTC")),
        ("model_version", pa.string()),
    ]
)


@dataclass(frozen=True)
class ReviewExport:
    path: Path
    model_version: str
    scored: int
    in_review_band: int
    # Where the scores came from: a published content_safety partition, or scored at export.
    source: str


@dataclass(frozen=True)
class ReviewImport:
    path: Path
    labelled: int
    skipped_unlabelled: int


def labels_dir(layout: DataLayout, model: str) -> Path:
    return layout.root / "labels" / model


def export_review_batch(
    config: PlatformConfig, spark: SparkSession, out: Path, model: str = "safety", limit: int | None = None
) -> ReviewExport:
    if out.suffix not in (".jsonl", ".csv"):
        raise SignalsError(f"annotation batch must be .jsonl or .csv, not {out.name}")
    layout = DataLayout(config.data_dir)
    model_root = layout.model_dir(model)
    version = default_version(model_root)
    if version is None:
        raise SignalsError(f"no trained {model} model under {model_root}: run `signals train {model}` first")
    card = read_card(model_root, version)
    if card.review_threshold is None or card.block_threshold is None:
        raise SignalsError(f"{model} {card.version} has no decision thresholds")
    if not layout.content_path.exists():
        raise SignalsError(f"no catalogue at {layout.content_path}: generate or import one first")

    content = spark.read.parquet(str(layout.content_path))
    published = published_scores(spark, layout, card.version) if model == "safety" else None
    if published is not None:
        scores, source = published
    else:
        scores = score_content(content, model_root / version, config.models.text_encoder)
        source = f"scored the catalogue now with {model} {card.version}"
    # The version's own decision (its per-category policy with the catalogue's explicit flag when
    # it stores one), exactly as the daily job and Score take it.
    classifier = ClassifierVersion(model_root / version, card)
    probabilities = [F.col(f"p_{c}") for c in card.classes]
    band = (
        scores.join(content.select("content_id", "explicit"), "content_id", "left")
        .withColumn("decided", version_decision_column(probabilities, F.col("explicit"), classifier))
        .where(F.col("decided.decision") == Decision.REVIEW.label)
        .select(*scores.columns, F.col("decided.reason").alias("decision_reason"))
        .orderBy(*_riskiest_first())
    )
    if limit is not None:
        band = band.limit(limit)
    chosen: pd.DataFrame = band.join(content, "content_id").orderBy(*_riskiest_first()).toPandas()
    scored = scores.count()

    batch = chosen.assign(
        text=[text_of(t, d) for t, d in zip(chosen["title"], chosen["description"], strict=True)],
        model=model,
        model_version=card.version,
        review_threshold=card.review_threshold,
        block_threshold=card.block_threshold,
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        label="",
    ).reindex(columns=list(EXPORT_COLUMNS))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".jsonl":
        # An empty band is an empty file (pandas writes a lone newline, which no reader parses).
        data = batch.to_json(orient="records", lines=True, force_ascii=False) if len(batch) else ""
    else:
        data = batch.to_csv(index=False)
    write_atomic(out, data.encode())
    return ReviewExport(
        path=out, model_version=card.version, scored=scored, in_review_band=len(batch), source=source
    )


def published_scores(spark: SparkSession, layout: DataLayout, version: str) -> tuple[DataFrame, str] | None:
    """The newest published content_safety partition's scores, if ``version`` computed all of them."""
    from content_signals.partitions import previous_partition

    newest = previous_partition(layout, CONTENT_SAFETY.name, date.max)
    if newest is None:
        return None
    day, path = newest
    frame = spark.read.parquet(str(path))
    versions = {row[0] for row in frame.select("safety_model_version").distinct().collect()}
    if versions != {version}:
        return None
    scores = frame.select(
        "content_id",
        "unsafe_score",
        *[F.col(f"p_{c}") for c in CLASSES if c != "neither"],
        (1.0 - F.col("unsafe_score")).alias("p_neither"),
    )
    return scores, f"published content_safety partition {day.isoformat()}"


def _read_batch(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise SignalsError(f"annotation batch not found: {path}")
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    raise SignalsError(f"annotation batch must be .jsonl or .csv, not {path.name}")


def import_review_labels(
    config: PlatformConfig, path: Path, model: str = "safety", now: datetime | None = None
) -> ReviewImport:
    """Check every row, then store the labelled ones; an invalid batch writes nothing."""
    frame = _read_batch(path)
    missing = {"content_id", "text", "label"} - set(frame.columns)
    if missing:
        raise SignalsError(f"{path.name} lacks column(s) {', '.join(sorted(missing))}")
    frame = frame.fillna({"label": "", "text": ""}).astype({"label": str, "content_id": str, "text": str})
    labels = frame["label"].str.strip().str.lower()
    unlabelled = labels == ""
    unknown = sorted(set(labels[~unlabelled]) - set(CLASSES))
    if unknown:
        rows = [int(i) + 2 for i in np.flatnonzero(labels.isin(unknown))[:5]]
        raise SignalsError(
            f"{path.name}: unknown label(s) {', '.join(map(repr, unknown))} (rows {rows}); "
            f"use one of {', '.join(CLASSES)}"
        )
    labelled = frame[~unlabelled].assign(label=labels[~unlabelled])
    if labelled["content_id"].duplicated().any():
        repeated = labelled.loc[labelled["content_id"].duplicated(), "content_id"].iloc[0]
        raise SignalsError(f"{path.name}: content_id {repeated!r} is labelled more than once")
    if labelled.empty:
        raise SignalsError(f"{path.name} has no labelled rows (fill the label column)")
    imported_at = now or datetime.now(UTC)
    given = (
        labelled["reviewed_at"].fillna("").astype(str).str.strip()
        if "reviewed_at" in labelled
        else pd.Series("", index=labelled.index)
    )
    reviewed_at = pd.to_datetime(given.where(given != ""), utc=True, errors="coerce", format="ISO8601")
    unreadable = (given != "") & reviewed_at.isna()
    if unreadable.any():
        rows = [int(i) + 2 for i in np.flatnonzero(unreadable.to_numpy())[:5]]
        raise SignalsError(f"{path.name}: reviewed_at must be ISO-8601 timestamps (rows {rows})")
    reviewed_at = reviewed_at.fillna(pd.Timestamp(imported_at))
    reviewer = labelled["reviewer"].astype(str) if "reviewer" in labelled else getpass.getuser()
    table = pa.Table.from_pandas(
        pd.DataFrame(
            {
                "content_id": labelled["content_id"],
                "text": labelled["text"],
                "label": labelled["label"],
                "class": labelled["label"].map(CLASSES.index).astype("int64"),
                "reviewer": reviewer,
                "reviewed_at": reviewed_at,
                "imported_at": pd.Timestamp(imported_at),
                "model_version": labelled.get("model_version", pd.Series("", index=labelled.index)).astype(
                    str
                ),
            }
        ),
        schema=LABEL_SCHEMA,
        preserve_index=False,
    )
    target_dir = labels_dir(DataLayout(config.data_dir), model)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"batch-{imported_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_atomic(target, sink.getvalue().to_pybytes())
    return ReviewImport(path=target, labelled=table.num_rows, skipped_unlabelled=int(unlabelled.sum()))


def load_review_labels(
    layout: DataLayout, model: str = "safety", until: datetime | None = None
) -> LabelledTexts:
    """Every imported review label (the latest per item), reviewed at or before ``until``."""
    files = sorted(labels_dir(layout, model).glob("batch-*.parquet"))
    if not files:
        return LabelledTexts(texts=[], labels=np.zeros(0, np.int64), source="review labels", sha256="")
    frame = pa.concat_tables([pq.read_table(f, schema=LABEL_SCHEMA) for f in files]).to_pandas()
    if until is not None:
        frame = frame[frame["reviewed_at"] <= pd.Timestamp(until)]
    frame = frame.sort_values(["reviewed_at", "imported_at"]).drop_duplicates("content_id", keep="last")
    return LabelledTexts(
        texts=frame["text"].tolist(),
        labels=frame["class"].to_numpy(np.int64),
        source=f"{len(files)} review batch(es)",
        sha256="",
    )
