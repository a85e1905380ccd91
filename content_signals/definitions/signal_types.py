"""What a signal definition is written in: entities, signals, signal tables, and the safety decision
the content_safety table stores."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import IntEnum
from typing import Literal

DType = Literal["int64", "double", "string", "bool", "float_vector"]
# Scalar types: those with a value range, a drift profile and a place in a feature MLP's inputs.
SCALAR_DTYPES: tuple[DType, ...] = ("int64", "double", "string", "bool")
Grain = Literal["row", "aggregate"]

ENTITY_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"


@dataclass(frozen=True)
class Entity:
    """A thing signals describe, with the column that identifies it."""

    name: str
    join_key: str
    description: str


CONTENT = Entity(
    name="content",
    join_key="content_id",
    description="A catalogue item: a music track, a podcast episode or an audiobook.",
)
CREATOR = Entity(
    name="creator",
    join_key="creator_id",
    description="Whoever uploads catalogue items: an artist, a podcast or a publisher.",
)
ENTITIES: dict[str, Entity] = {entity.name: entity for entity in (CONTENT, CREATOR)}


@dataclass(frozen=True)
class Signal:
    """One column of a signal table: what it means, how it is computed, what values are valid."""

    name: str
    dtype: DType
    description: str
    # A Spark SQL expression over the table's base columns (an aggregate one in aggregate tables).
    sql: str
    unit: str = ""
    min_value: float | None = None
    max_value: float | None = None
    allowed_values: tuple[str, ...] | None = None
    nullable: bool = False
    # A key signal: the gate compares its mean, median and null rate with the previous partition.
    drift: bool = False
    # The value is the key of another entity (a content item's creator): training sets and online
    # reads use it to find that entity's features for rows that carry only this table's key.
    references: Entity | None = None
    # Length of every value of a ``float_vector`` signal (the gate checks it on every row).
    dimension: int | None = None

    def __post_init__(self) -> None:
        if self.dtype == "float_vector":
            if self.dimension is None or self.dimension < 1:
                raise ValueError(f"signal {self.name!r}: a float_vector needs a positive dimension")
            if self.min_value is not None or self.max_value is not None or self.allowed_values or self.drift:
                raise ValueError(
                    f"signal {self.name!r}: ranges, allowed values and drift apply to scalars only"
                )
        elif self.dimension is not None:
            raise ValueError(f"signal {self.name!r}: only a float_vector has a dimension")

    @property
    def is_vector(self) -> bool:
        return self.dtype == "float_vector"


@dataclass(frozen=True)
class SignalTable:
    """A set of signals computed together by one job, one row per entity per daily partition.

    ``event_timestamp`` of a row is the end of its partition date (midnight UTC of the next day):
    the moment from which the values are known, which is what point-in-time joins need.
    """

    name: str
    entity: Entity
    description: str
    signals: tuple[Signal, ...]
    grain: Grain = "row"
    # How long a value stays usable after its event timestamp. Longer than a day, so that when a
    # partition is quarantined the previous day's values keep serving.
    ttl: timedelta = field(default=timedelta(days=3))
    # Why this TTL: shown in the signal catalogue, so consumers know how stale a value may be.
    ttl_reason: str = ""

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.entity.join_key, ENTITY_TIMESTAMP, CREATED_TIMESTAMP)

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signals)

    def signal(self, name: str) -> Signal:
        for candidate in self.signals:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no signal {name!r}")

    def with_signals(self, *extra: Signal) -> SignalTable:
        """This table with more signals appended (how a new signal is tried before it is added)."""
        return replace(self, signals=(*self.signals, *extra))


class Decision(IntEnum):
    """What happens to an item. The numbers are content_signals.v1.Decision's on the wire; the
    lower-cased names are what the ``safety_decision`` signal stores. The rule that picks one is
    :func:`content_signals.models.decisions.decide`, the only place it is written."""

    UNSPECIFIED = 0
    ALLOW = 1
    REVIEW = 2
    BLOCK = 3

    @property
    def label(self) -> str:
        return self.name.lower()
