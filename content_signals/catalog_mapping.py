"""How a real catalogue file's columns map onto the platform's catalogue schema.

Public track datasets share a family resemblance but differ in delimiter, quoting and column
names, so the mapping is data, not code: a YAML file (the built-in ones live in
``content_signals/catalog_mappings/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from content_signals.errors import SignalsError

BUILTIN_DIR = Path(__file__).resolve().parent / "catalog_mappings"


class CatalogColumns(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    content_id: str
    title: str
    creator_ids: str
    creator_names: str | None = None
    duration_ms: str
    explicit: str | None = None
    release_date: str | None = None
    description: str | None = None
    language: str | None = None


class CatalogMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    delimiter: str = ","
    # Quote character; null disables quoting (for files whose titles contain literal quotes).
    quote: str | None = '"'
    content_type: Literal["track", "episode", "audiobook"] = "track"
    # How list-valued cells (artists) are written: a Python list literal, or split on a separator.
    list_format: Literal["python", "delimited"] = "python"
    list_separator: str = ";"
    columns: CatalogColumns
    # Platform audio feature name -> source column.
    audio: dict[str, str] = Field(default_factory=dict)

    def source_columns(self) -> list[str]:
        mapped = [v for v in self.columns.model_dump().values() if v is not None]
        return [*mapped, *self.audio.values()]


def load_mapping(name_or_path: str) -> CatalogMapping:
    """A built-in mapping by name (``musicoset``) or a mapping YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = BUILTIN_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise SignalsError(f"no catalogue mapping {name_or_path!r} (built-in: {known}; or a YAML path)")
    try:
        return CatalogMapping.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        reason = str(exc).splitlines()[0]
        raise SignalsError(f"invalid catalogue mapping {path}: {reason}") from exc
