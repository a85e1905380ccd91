"""The inputs a signal job can declare, and how the runner finds and reads them.

Each input is checked on the file system alone (:meth:`Input.locate`), so a batch checks every input
of every job and day before Spark starts, and read (:meth:`Input.read`) once Spark runs. A job's
transform receives each input as the keyword argument of its ``name``.

Two ways for an input to be missing are told apart. A deployment may have none of a kind of data
at all (:meth:`Input.absent`: no listening events in a catalogue-only deployment, no audio
descriptors in an imported catalogue): a job that needs it cannot run there, which ``jobs run all``
reports instead of failing, and a job that takes it as ``optional`` gets ``None``. Data the
deployment has but not for the date asked (one day's events) is an error, whoever asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession

from content_signals.config import ListeningEventsSetting
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.partitions import previous_partition
from content_signals.text import offensive_lexicon


@dataclass(frozen=True)
class Deployment:
    """Where a deployment's data lives and which kinds of data it has at all (from the config's
    ``listening_events``), as opposed to what is missing for one date."""

    layout: DataLayout
    listening_events: ListeningEventsSetting = "auto"

    def without_listening_events(self) -> str | None:
        """Why this deployment has no listening events at all, or ``None`` when it has them (then
        every day a job reads must be there)."""
        if self.listening_events == "none":
            return "this deployment has no listening events (listening_events: none)"
        if self.listening_events == "auto" and not any(self.layout.events_dir.glob("date=*")):
            return (
                "this deployment has no listening events "
                f"(listening_events: auto found none under {self.layout.events_dir})"
            )
        return None


class Input(Protocol):
    """Something a job's transform reads for a date, passed to it as the keyword ``name``."""

    @property
    def name(self) -> str: ...

    @property
    def optional(self) -> bool:
        """Where the deployment has none of this input (:meth:`absent`), the transform receives
        ``None`` instead of the job not running."""
        ...

    def absent(self, deployment: Deployment) -> str | None:
        """Why ``deployment`` has none of this input at all (a reason to show), or ``None`` when it
        should have it, so that :meth:`locate` failing is an error. File system only."""
        ...

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        """The files read for ``day`` (none for a value that is not a file); raises
        :class:`~content_signals.errors.SignalsError` naming what is missing. File system only."""
        ...

    def read(self, spark: SparkSession, layout: DataLayout, day: date) -> object:
        """The value the transform receives (a DataFrame, mostly)."""
        ...


def require(
    path: Path, what: str, hint: str = "run `signals generate` or `signals import catalog` first"
) -> Path:
    if not path.exists():
        raise SignalsError(f"missing input: no {what} at {path} ({hint})")
    return path


def event_window(layout: DataLayout, day: date, days: int) -> list[Path]:
    """The listening-event partitions of the ``days`` days ending with ``day``; raises if any is missing.

    The partition date's own events must exist. Earlier days may be missing only where the event
    history has not started yet; a gap inside the history is an error, because it would silently
    undercount engagement.
    """
    if not layout.events_partition(day).exists():
        raise SignalsError(
            f"missing input: no listening events for {day.isoformat()} at {layout.events_partition(day)}"
        )
    window = [day - timedelta(days=offset) for offset in range(days)]
    present = sorted(d for d in window if layout.events_partition(d).exists())
    gaps = [d.isoformat() for d in window if d > present[0] and d not in present]
    if gaps:
        raise SignalsError(f"missing input: listening events have gaps on {', '.join(sorted(gaps))}")
    return [layout.events_partition(d) for d in present]


class _EveryDeployment:
    """An input every deployment has: when :meth:`locate` finds it missing, that is an error."""

    optional = False

    def absent(self, deployment: Deployment) -> str | None:
        return None


class _ParquetInput(_EveryDeployment):
    """An input read as one DataFrame over all of its files."""

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        raise NotImplementedError

    def read(self, spark: SparkSession, layout: DataLayout, day: date) -> DataFrame:
        return spark.read.parquet(*map(str, self.locate(layout, day)))


@dataclass(frozen=True)
class Catalogue(_ParquetInput):
    """The content catalogue as it is now (it has no history)."""

    name: str = "content"

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        return [require(layout.content_path, "catalogue")]


@dataclass(frozen=True)
class AudioFeatures(_ParquetInput):
    """The audio descriptors of tracks. A catalogue may come without any (an imported file with no
    descriptor columns): then the deployment has none, for every date."""

    name: str = "audio"

    def absent(self, deployment: Deployment) -> str | None:
        path = deployment.layout.audio_features_path
        return None if path.exists() else f"this catalogue has no audio features (no {path})"

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        return [require(layout.audio_features_path, "audio features")]


@dataclass(frozen=True)
class ListeningEvents(_ParquetInput):
    """The listening events of the ``days`` days ending with the partition date (see
    :func:`event_window`); the transform still filters them to its exact time window.

    ``optional``: in a deployment without listening events the transform gets ``None`` (a job whose
    other signals need no events still runs); the events of a deployment that has them must be there.
    """

    days: int
    name: str = "events"
    optional: bool = False

    def absent(self, deployment: Deployment) -> str | None:
        return deployment.without_listening_events()

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        return event_window(layout, day, self.days)


@dataclass(frozen=True)
class SameDayPartition(_ParquetInput):
    """The published partition of signal table ``table`` for the same date. The runner runs that
    table's job first in a batch, and does not run this one on a day where that one is quarantined."""

    table: str
    name: str

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        return [
            require(
                layout.signal_partition(self.table, day),
                f"published {self.table} partition for {day.isoformat()}",
                hint=f"run `signals jobs run {self.table} --date {day.isoformat()}` first",
            )
        ]


@dataclass(frozen=True)
class PreviousPartition(_EveryDeployment):
    """The newest published partition of signal table ``table`` before the date; ``None`` when there
    is none yet (so the transform must work without it)."""

    table: str
    name: str = "previous"

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        known = previous_partition(layout, self.table, day)
        return [] if known is None else [known[1]]

    def read(self, spark: SparkSession, layout: DataLayout, day: date) -> DataFrame | None:
        paths = self.locate(layout, day)
        return spark.read.parquet(*map(str, paths)) if paths else None


@dataclass(frozen=True)
class PartitionDate(_EveryDeployment):
    """The partition's date itself, for transforms whose rows depend on it."""

    name: str = "day"

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        return []

    def read(self, spark: SparkSession, layout: DataLayout, day: date) -> date:
        return day


@dataclass(frozen=True)
class OffensiveLexicon(_EveryDeployment):
    """The offensive-lexicon terms shipped with the package (a list of strings)."""

    name: str = "terms"

    def locate(self, layout: DataLayout, day: date) -> list[Path]:
        return []

    def read(self, spark: SparkSession, layout: DataLayout, day: date) -> list[str]:
        return offensive_lexicon()
