"""What a signal job is: the table it computes, the inputs it reads and a pure transform.

A job module declares one :class:`SignalJob`; it reads nothing, writes nothing and loads no model.
The runner (:mod:`content_signals.jobs.runner`) checks every declared input on the file system
before Spark starts, reads them (``None`` for an optional input the deployment has none of, such as
listening events in a catalogue-only deployment), loads the job's model if it declares one, calls
the transform with each input under its name, and turns the transform's base frame into the table's partition
(:func:`content_signals.jobs.schema.compute_partition`) before gating and publishing it. Tests call
:meth:`SignalJob.compute` with DataFrames of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession

from content_signals.config import ModelsConfig, SimilarityConfig
from content_signals.definitions import SignalTable
from content_signals.jobs.inputs import Input, PartitionDate, SameDayPartition
from content_signals.jobs.schema import compute_partition
from content_signals.layout import DataLayout


class ModelInput(Protocol):
    """A model a job's transform runs, passed to it as the keyword ``name``."""

    @property
    def name(self) -> str: ...

    def check(self, layout: DataLayout) -> None:
        """Raise :class:`~content_signals.errors.SignalsError` if the model is not there (cheap)."""
        ...

    def load(
        self,
        spark: SparkSession,
        layout: DataLayout,
        models: ModelsConfig,
        table: SignalTable,
        *,
        day: date,
        similarity: SimilarityConfig,
    ) -> object:
        """The model as the transform takes it for ``day``, checked against the table it computes
        (a model built from the day's data, such as the vector index, is built here if missing)."""
        ...


@dataclass(frozen=True)
class Published:
    """A partition the runner has just published: what a job's ``after_publish`` step receives."""

    layout: DataLayout
    day: date
    run_id: str
    models: ModelsConfig
    similarity: SimilarityConfig
    progress: Callable[[str], None]


@dataclass(frozen=True)
class SignalJob:
    """A daily job: what it computes (``table``), what it reads (``inputs``), the model it runs if
    any, and the ``transform`` from those to the table's base frame, over which the runner
    evaluates the table's signal expressions."""

    table: SignalTable
    inputs: tuple[Input, ...]
    # Pure: the inputs (and the model) by name in, the table's base frame out (one row per output
    # row for a ``row`` table, per entity and contributing row for an ``aggregate`` one).
    transform: Callable[..., DataFrame]
    model: ModelInput | None = None
    # Run by the runner once the partition is published (the content_embedding job builds the
    # day's vector index); an error here fails the run, with the partition already published.
    after_publish: Callable[[Published], object] | None = None

    @property
    def upstream(self) -> tuple[str, ...]:
        """Signal tables whose partition of the same day the job reads: in a batch they run first,
        and a day on which one of them is quarantined is not run."""
        return tuple(source.table for source in self.inputs if isinstance(source, SameDayPartition))

    def compute(
        self, day: date, created_at: datetime, table: SignalTable | None = None, /, **values: object
    ) -> DataFrame:
        """The partition of ``table`` (by default the job's own) for ``day`` from the given inputs
        (and model), keyed by their names; a :class:`PartitionDate` input is always ``day``."""
        dated = {source.name: day for source in self.inputs if isinstance(source, PartitionDate)}
        arguments = {**values, **dated}
        expected = {source.name for source in self.inputs} | ({self.model.name} if self.model else set())
        if set(arguments) != expected:
            raise TypeError(
                f"{self.table.name} takes {', '.join(sorted(expected))}; given {', '.join(sorted(arguments))}"
            )
        return compute_partition(table or self.table, self.transform(**arguments), day, created_at)
