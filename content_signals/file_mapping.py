"""The mapping language shared by every importer: how a real file is read and where each of the
platform's fields comes from in it.

A mapping is data, not code (YAML, validated here). The same vocabulary describes a catalogue
(:mod:`content_signals.catalog_mapping`) and a listening log (:mod:`content_signals.events_mapping`):

* how the file is read: ``format`` (``csv`` for any delimited text, or ``json``), ``delimiter``,
  ``quote`` (null for files whose values contain literal quotes) and ``encoding``;
* each field as a :class:`FieldSource`: a source column (``title: song_name``), or an object that
  also says how its cells are written (``duration_ms: {column: length, unit: s}``) or, for ids,
  which columns a stable id is derived from (``content_id: {derive: [artist, song, year]}``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from content_signals.errors import SignalsError
from content_signals.value_parsers import FALSE_SPELLINGS, TRUE_SPELLINGS, ListFormat


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt option must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSource(_Strict):
    """Where one platform field comes from, and how its cells are written.

    Written as a bare column name, or as an object with exactly one of ``column`` and ``derive``.
    Options a field's kind does not use are rejected by the mapping that owns the field.
    """

    column: str | None = None
    # Ids only: derive a stable id from these source columns (see value_parsers.derived_id).
    derive: tuple[str, ...] | None = None
    # Ids only: a prefix to remove from each cell (spotify:track:4uLU… -> 4uLU…); a cell without it
    # is kept as written.
    strip_prefix: str | None = None
    # Durations: ms, s or min (clock times such as 3:35 are read whatever the unit).
    # Timestamps: iso, s or ms since the Unix epoch.
    unit: str | None = None
    # Flags: the spellings of true and false, replacing the built-in ones (case-insensitive).
    true_values: tuple[str, ...] | None = None
    false_values: tuple[str, ...] | None = None
    # Lists (credited artists): the list's format and separator, overriding the mapping's defaults.
    list_format: ListFormat | None = None
    list_separator: str | None = None
    # Dates: a Spark datetime pattern (dd/MM/yyyy) for files not written year-first.
    pattern: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_column_name(cls, value: object) -> object:
        return {"column": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSource:
        if (self.column is None) == (self.derive is None):
            raise ValueError("give exactly one of column and derive")
        if self.derive is not None and not self.derive:
            raise ValueError("derive needs at least one column")
        if self.strip_prefix is not None and self.derive is not None:
            raise ValueError("strip_prefix applies to a column, not to a derived id")
        if self.strip_prefix == "":
            raise ValueError("strip_prefix must not be empty")
        return self

    def source_columns(self) -> list[str]:
        return [self.column] if self.column is not None else list(self.derive or ())

    def describe(self) -> str:
        return self.column if self.column is not None else "derived from " + " + ".join(self.derive or ())

    def true_spellings(self) -> tuple[str, ...]:
        return self.true_values if self.true_values is not None else TRUE_SPELLINGS

    def false_spellings(self) -> tuple[str, ...]:
        return self.false_values if self.false_values is not None else FALSE_SPELLINGS


class FileMapping(_Strict):
    """What every mapping has: a name and how its file is read."""

    name: str
    format: Literal["csv", "json"] = "csv"
    delimiter: str = ","
    # Quote character; null disables quoting (for files whose titles contain literal quotes).
    quote: str | None = '"'
    encoding: str = "UTF-8"

    def fields(self) -> dict[str, FieldSource]:
        """Platform field -> its source, for every mapped field."""
        raise NotImplementedError

    def source_columns(self) -> list[str]:
        """Every source column the mapping reads (the file must have all of them)."""
        columns = [c for source in self.fields().values() for c in source.source_columns()]
        return list(dict.fromkeys(columns))


def check_units(mapping: FileMapping, allowed: dict[str, tuple[str, ...]]) -> None:
    """Raise unless every field's ``unit`` is one its kind accepts (``allowed``: field -> units)."""
    for name, source in mapping.fields().items():
        if source.unit is None:
            continue
        units = allowed.get(name, ())
        if source.unit not in units:
            accepted = f"one of {', '.join(units)}" if units else "no unit"
            raise ValueError(f"{name}: unit {source.unit!r} is not accepted ({accepted})")


Mapping = TypeVar("Mapping", bound=FileMapping)


def load_mapping_file(model: type[Mapping], name_or_path: str, builtin_dir: Path, what: str) -> Mapping:
    """A built-in mapping by name (a YAML file of ``builtin_dir``) or a mapping YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = builtin_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in builtin_dir.glob("*.yaml")))
        raise SignalsError(f"no {what} mapping {name_or_path!r} (built-in: {known}; or a YAML path)")
    try:
        raw: Any = yaml.safe_load(path.read_text())
        return model.model_validate(raw)
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise SignalsError(f"invalid {what} mapping {path}: not YAML: {reason}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "mapping"
        raise SignalsError(f"invalid {what} mapping {path}: {where}: {first['msg']}") from exc


def mapping_digest(mapping: FileMapping) -> str:
    """A short fingerprint of the mapping's content: import records name the exact mapping used."""
    return hashlib.sha256(mapping.model_dump_json().encode()).hexdigest()[:12]
