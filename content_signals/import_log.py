"""The import log: one JSON line per import of a real file (catalogue or listening events).

Every import is recorded, whether it changed anything or was refused, so a user can see what
changed the catalogue, when, from which file (by fingerprint) and with which mapping.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from content_signals.files import read_json_lines
from content_signals.layout import DataLayout

# What an import did: its rows went in, it was refused (too few accepted), or it was a dry run.
Outcome = str
APPLIED, REFUSED, DRY_RUN = "applied", "refused", "dry_run"


@dataclass(frozen=True)
class ImportRecord:
    import_id: str
    kind: str  # catalog or events
    source: str
    # SHA-256 of the file's bytes (first 16 hex digits): the same file imported twice is visible.
    fingerprint: str
    mapping: str
    mapping_digest: str
    mode: str  # merge or replace
    outcome: Outcome
    rows: int
    accepted: int
    rejected: dict[str, int]
    # merge / replace effect: added, updated, unchanged (and removed for replace); events per day.
    changes: dict[str, int] = field(default_factory=dict)
    started_at: str = ""
    seconds: float = 0.0
    rejects_path: str = ""
    reason: str = ""


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def record_import(layout: DataLayout, record: ImportRecord) -> None:
    """Append ``record`` to the log (one line, written in one call)."""
    layout.imports_log_path.parent.mkdir(parents=True, exist_ok=True)
    with layout.imports_log_path.open("a") as log:
        log.write(json.dumps(asdict(record), sort_keys=True) + "\n")


def import_log(layout: DataLayout) -> list[ImportRecord]:
    """Every import recorded so far, oldest first."""
    return read_json_lines(layout.imports_log_path, ImportRecord)
