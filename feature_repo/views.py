"""Feature views, one per signal table, with the schema taken from the signal definitions."""

from __future__ import annotations

from feast import Entity, FeatureView, Field
from feast.data_source import DataSource
from feast.types import Array, Bool, ComplexFeastType, FeastType, Float32, Float64, Int64, String

from content_signals.definitions import DType, SignalTable

FEAST_TYPES: dict[DType, FeastType | ComplexFeastType] = {
    "int64": Int64,
    "double": Float64,
    "string": String,
    "bool": Bool,
    # Stored as Feast's FLOAT_LIST: float32 halves the online store's bytes against doubles.
    "float_vector": Array(Float32),
}


def signal_view(table: SignalTable, entity: Entity, source: DataSource) -> FeatureView:
    return FeatureView(
        name=table.name,
        entities=[entity],
        ttl=table.ttl,
        schema=[
            Field(name=s.name, dtype=FEAST_TYPES[s.dtype], description=s.description) for s in table.signals
        ],
        source=source,
        online=True,
        description=table.description,
        tags={"signal_table": table.name},
    )
