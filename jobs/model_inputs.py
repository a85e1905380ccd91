"""The models a signal job can declare (:attr:`SignalJob.model`), and how the runner loads them.

Only a job that runs a model declares one; the runner checks it before Spark starts and hands the
loaded model to the job's transform under its ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession

from content_signals.config import ModelsConfig, SimilarityConfig
from content_signals.definitions import SignalTable
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models.batch_scoring import (
    ClassifierVersion,
    SparkEncoder,
    spark_encoder,
    text_classifier,
)
from content_signals.models.registry import default_version, read_card


@dataclass(frozen=True)
class TextClassifierModel:
    """The default version (the promoted one, else the newest) of the text classifier ``model``,
    which must predict every class in ``classes``."""

    model: str
    classes: tuple[str, ...]
    name: str = "model"

    def version_dir(self, layout: DataLayout) -> Path:
        root = layout.model_dir(self.model)
        version = default_version(root) if root.exists() else None
        if version is None:
            raise SignalsError(
                f"missing input: no {self.model} model under {root} (run `signals train {self.model}` first)"
            )
        card = read_card(root, version)
        missing = [c for c in self.classes if c not in card.classes]
        if missing:
            raise SignalsError(f"{self.model} {version} has no class {', '.join(missing)}")
        return root / version

    def check(self, layout: DataLayout) -> None:
        self.version_dir(layout)

    def load(
        self,
        spark: SparkSession,
        layout: DataLayout,
        models: ModelsConfig,
        table: SignalTable,
        *,
        day: date,
        similarity: SimilarityConfig,
    ) -> ClassifierVersion:
        return text_classifier(self.version_dir(layout))


@dataclass(frozen=True)
class TextEncoderModel:
    """The configured text encoder (``models.text_encoder``), which must give vectors of the
    dimension the table defines for ``signal``."""

    signal: str
    name: str = "encoder"

    def check(self, layout: DataLayout) -> None:
        """Nothing to check without Spark: the encoder is the configured one, loaded by :meth:`load`."""

    def load(
        self,
        spark: SparkSession,
        layout: DataLayout,
        models: ModelsConfig,
        table: SignalTable,
        *,
        day: date,
        similarity: SimilarityConfig,
    ) -> SparkEncoder:
        encoder = spark_encoder(spark, models.text_encoder)
        wanted = table.signal(self.signal).dimension
        if encoder.info.dimension != wanted:
            raise SignalsError(
                f"text encoder {encoder.info.name} gives {encoder.info.dimension}-dim vectors; "
                f"{table.name}.{self.signal} is defined with {wanted}"
            )
        return encoder
