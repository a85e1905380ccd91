"""How a real listening log's columns map onto the platform's event schema.

Listening logs come from streaming exports (a personal "extended streaming history"), analytics
warehouses or a player's own log, each with its own column names, timestamp convention and id
spelling. As with catalogues, the mapping is data, not code: a YAML file in the language of
:mod:`content_signals.file_mapping` (built-in ones live in ``content_signals/events_mappings/``;
``docs/bring-your-own-events.md`` is the guide).

Every event becomes one row of the platform's event schema (``user_id``, ``content_id``,
``event_timestamp`` in UTC, ``ms_played``, ``saved``), the schema every job reads:

* ``user_id``: a column, or ``default_user_id`` for a one-person export without a user column
  (it also fills blank cells of the column when both are given);
* ``content_id``: a column (``strip_prefix`` removes a spelling such as ``spotify:track:``), or an
  id derived from named columns, the same way a catalogue derives its ids: derived from the same
  columns in the same order, an event and a catalogue item get the same id;
* ``timestamp``: ISO-8601 (``unit: iso``, the default; no offset means UTC), or seconds / milliseconds
  since the Unix epoch (``unit: s`` / ``ms``);
* ``ms_played`` (required: skips and completions are computed from it): ``unit`` ms (default), s or
  min; zero is a valid play (started and skipped at once), a negative value is rejected;
* ``saved`` (optional): a flag in any common spelling (``true_values`` / ``false_values`` override
  them). Without it, or where a cell is blank, ``saved`` is null: the file does not say. Jobs count
  only ``saved = true`` as a save, so unknown means "not counted as saved".
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from content_signals.catalog_mapping import DERIVED_CONTENT_PREFIX
from content_signals.file_mapping import FieldSource, FileMapping, check_units, load_mapping_file

BUILTIN_DIR = Path(__file__).resolve().parent / "events_mappings"
# Ids derived from source columns carry the catalogue's prefix, so that a listening log and a
# catalogue that derive ids from the same columns (in the same order) agree on them.
DERIVED_ITEM_PREFIX = DERIVED_CONTENT_PREFIX
TIMESTAMP_UNITS = ("iso", "s", "ms")
PLAYED_UNITS = ("ms", "s", "min")


class EventsColumns(BaseModel):
    """The event fields and where each comes from. Required: the item, the timestamp and ms played;
    the user too unless the mapping gives ``default_user_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: FieldSource | None = None
    content_id: FieldSource
    timestamp: FieldSource
    ms_played: FieldSource
    saved: FieldSource | None = None

    @model_validator(mode="after")
    def _options_of_each_kind(self) -> EventsColumns:
        for name in EventsColumns.model_fields:
            source = getattr(self, name)
            if source is None:
                continue
            if source.derive is not None and name != "content_id":
                raise ValueError(f"{name}: only content_id can be derived")
            if name != "saved" and (source.true_values is not None or source.false_values is not None):
                raise ValueError(f"{name}: true_values / false_values apply to saved only")
            if source.list_format is not None or source.list_separator is not None:
                raise ValueError(f"{name}: events have no list-valued fields")
            if source.pattern is not None:
                raise ValueError(f"{name}: pattern is not accepted (timestamps take unit: iso, s or ms)")
        return self


class EventsMapping(FileMapping):
    columns: EventsColumns
    # The user of every event whose user column is absent (a one-person export) or blank.
    default_user_id: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> EventsMapping:
        if self.columns.user_id is None and self.default_user_id is None:
            raise ValueError("map columns.user_id, or give default_user_id for a one-person export")
        if self.default_user_id is not None and not self.default_user_id.strip():
            raise ValueError("default_user_id must not be blank")
        check_units(self, {"timestamp": TIMESTAMP_UNITS, "ms_played": PLAYED_UNITS})
        return self

    def fields(self) -> dict[str, FieldSource]:
        mapped = {name: getattr(self.columns, name) for name in EventsColumns.model_fields}
        return {name: source for name, source in mapped.items() if source is not None}


def load_events_mapping(name_or_path: str) -> EventsMapping:
    """A built-in mapping by name (``spotify_extended_history``, ``generic_csv``) or a mapping YAML
    file by path."""
    return load_mapping_file(EventsMapping, name_or_path, BUILTIN_DIR, "events")


def builtin_mappings() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))
