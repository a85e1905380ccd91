"""Writing files so that readers see the old content or the new, never a half-written file; and
reading the append-only JSON-lines logs (publications, imports)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

Record = TypeVar("Record")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, rename it over ``path``."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a web server must be able to read it
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def read_json_lines(path: Path, record: type[Record]) -> list[Record]:
    """Every line of an append-only log as a ``record`` dataclass, oldest first; keys the dataclass
    does not know (written by a newer version) are ignored, so old readers keep working."""
    if not path.exists():
        return []
    fields: set[str] = set(getattr(record, "__dataclass_fields__", {}))
    rows: list[dict[str, Any]] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [record(**{k: v for k, v in row.items() if k in fields}) for row in rows]
