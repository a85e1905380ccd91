"""Write docs/signal_catalogue.md from the signal definitions (a test fails when it is stale).

Usage: python scripts/gen_signal_docs.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from content_signals.definitions import SIGNAL_TABLES, Signal, SignalTable  # noqa: E402

CATALOGUE = ROOT / "docs" / "signal_catalogue.md"


def _range(signal: Signal) -> str:
    if signal.allowed_values:
        return ", ".join(f"`{v}`" for v in signal.allowed_values)
    if signal.dimension is not None:
        return f"{signal.dimension} floats"
    low = "" if signal.min_value is None else f"{signal.min_value:g}"
    high = "" if signal.max_value is None else f"{signal.max_value:g}"
    return f"{low}..{high}" if low or high else ""


def _table(table: SignalTable) -> list[str]:
    days = table.ttl.total_seconds() / 86_400
    lines = [
        f"## `{table.name}`",
        "",
        table.description,
        "",
        f"Entity `{table.entity.name}` (key `{table.entity.join_key}`), grain `{table.grain}`, "
        f"TTL {days:g} days, computed by `jobs/{table.name}.py`.",
        "",
        *([f"Why this TTL: {table.ttl_reason}", ""] if table.ttl_reason else []),
        "| signal | type | unit | valid | null | meaning | computed as (Spark SQL over the base) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in table.signals:
        sql = " ".join(s.sql.split()).replace("|", "\\|")
        meaning = s.description.replace("|", "\\|")
        null = "yes" if s.nullable else "no"
        lines.append(f"| `{s.name}` | {s.dtype} | {s.unit} | {_range(s)} | {null} | {meaning} | `{sql}` |")
    return [*lines, ""]


def render() -> str:
    lines = [
        "# Signal catalogue",
        "",
        "Generated from `content_signals/definitions/` by `scripts/gen_signal_docs.py`; do not edit.",
        "Every row's event timestamp is the end of its partition date (midnight UTC of the next day).",
        "How to add a signal: [signals.md](signals.md).",
        "",
    ]
    for table in SIGNAL_TABLES.values():
        lines += _table(table)
    return "\n".join(lines)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not CATALOGUE.exists() or CATALOGUE.read_text() != text:
            print(f"{CATALOGUE} is stale: run python scripts/gen_signal_docs.py", file=sys.stderr)
            return 1
        return 0
    CATALOGUE.write_text(text)
    print(f"wrote {CATALOGUE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
