"""How a real catalogue file's columns map onto the platform's catalogue schema.

Public track datasets share a family resemblance but differ in delimiter, quoting, column names,
how values are written and whether they have ids at all, so the mapping is data, not code: a YAML
file in the language of :mod:`content_signals.file_mapping` (the built-in ones live in
``content_signals/catalog_mappings/``; ``docs/bring-your-own-catalogue.md`` is the guide).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from content_signals.file_mapping import FieldSource, FileMapping, check_units, load_mapping_file
from content_signals.value_parsers import ListFormat

BUILTIN_DIR = Path(__file__).resolve().parent / "catalog_mappings"
CONTENT_TYPES = ("track", "episode", "audiobook")
# Prefixes of derived ids: an id made by the platform never looks like one a file supplied.
DERIVED_CONTENT_PREFIX = "cs:"
DERIVED_CREATOR_PREFIX = "cs-creator:"


class CatalogColumns(BaseModel):
    """The catalogue fields and where each comes from. Required: an id (a column or derived), a
    title, a duration and the creators (ids, names, or both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content_id: FieldSource
    title: FieldSource
    # Credited creators, first = main. Without an id column, ids are derived from the names.
    creator_ids: FieldSource | None = None
    creator_names: FieldSource | None = None
    duration_ms: FieldSource
    explicit: FieldSource | None = None
    release_date: FieldSource | None = None
    description: FieldSource | None = None
    language: FieldSource | None = None
    # A column holding track / episode / audiobook per row (else the mapping's content_type).
    content_type: FieldSource | None = None

    @model_validator(mode="after")
    def _creators_named(self) -> CatalogColumns:
        if self.creator_ids is None and self.creator_names is None:
            raise ValueError("map creator_ids, creator_names or both (ids are derived from names)")
        for name in ("title", "duration_ms", "explicit", "release_date", "creator_ids", "creator_names"):
            source = getattr(self, name)
            if source is not None and source.derive is not None:
                raise ValueError(f"{name}: only content_id can be derived")
        return self


class CatalogMapping(FileMapping):
    content_type: Literal["track", "episode", "audiobook"] = "track"
    # How list-valued cells (credited artists) are written, unless a field says otherwise.
    list_format: ListFormat = "python"
    list_separator: str = ";"
    columns: CatalogColumns
    # Platform audio feature name -> source column (numbers; unreadable cells become null).
    audio: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _units(self) -> CatalogMapping:
        check_units(self, {"duration_ms": ("ms", "s", "min")})
        return self

    def fields(self) -> dict[str, FieldSource]:
        mapped = {name: getattr(self.columns, name) for name in CatalogColumns.model_fields}
        audio = {name: FieldSource(column=column) for name, column in self.audio.items()}
        return {name: source for name, source in mapped.items() if source is not None} | audio


def load_mapping(name_or_path: str) -> CatalogMapping:
    """A built-in mapping by name (``musicoset``) or a mapping YAML file by path."""
    return load_mapping_file(CatalogMapping, name_or_path, BUILTIN_DIR, "catalogue")
