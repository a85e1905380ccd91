"""Feast entities, one per entity in :mod:`content_signals.definitions`."""

from __future__ import annotations

from feast import Entity, ValueType

from content_signals.definitions import ENTITIES
from content_signals.definitions import Entity as EntityDefinition


def feast_entity(definition: EntityDefinition) -> Entity:
    return Entity(
        name=definition.name,
        join_keys=[definition.join_key],
        value_type=ValueType.STRING,
        description=definition.description,
    )


def feast_entities() -> dict[str, Entity]:
    """Every entity, by name."""
    return {name: feast_entity(definition) for name, definition in ENTITIES.items()}
