"""A static data-quality dashboard for platform teams, rendered from the validation history.

Platform teams need to answer three questions without running anything: which partitions may be
served (the latest gate outcome per table, and what failed), what is stuck in quarantine, and whether
the online store is fresh. A static page answers them from any file browser or web server, keeps
working when the platform is down, and can be archived with a run. So the page is one self-contained
``index.html`` (inline CSS, no JavaScript, nothing fetched from the network) plus PNG plots next to it.

This module writes the page (``dashboard_page``: the HTML, every data string escaped) and its plots
(``dashboard_plots``: matplotlib's Agg canvas, no ``pyplot``). Files are replaced atomically: a
reader sees the previous page or the new one, never half of one. Plot file names carry a hash of
their content, so the previous page's plots stay valid until the new page has replaced it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from content_signals.expectations.dashboard_page import FreshnessRow, QuarantineItem, render_page
from content_signals.expectations.dashboard_plots import PLOT_PATTERN, table_figures, write_plot
from content_signals.expectations.history import ValidationHistory, ValidationRun
from content_signals.files import write_atomic

__all__ = ["FreshnessRow", "QuarantineItem", "render_dashboard"]


def render_dashboard(
    history: ValidationHistory,
    quarantine: Sequence[QuarantineItem],
    freshness: Sequence[FreshnessRow],
    out_dir: Path,
    now: datetime,
) -> Path:
    """Write ``out_dir/index.html`` and its plots; return the page's path.

    ``now`` is passed in (not read from the clock) so that a page can be rendered for a given moment
    and tests are deterministic. It must be timezone-aware.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware (UTC), got naive {now.isoformat()}")
    now = now.astimezone(UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = history.runs()
    releases = history.releases()
    by_table: dict[str, list[ValidationRun]] = {}
    for run in runs:  # newest first, so each table's list is newest first too
        by_table.setdefault(run.table, []).append(run)
    tables = sorted(by_table)

    plots: dict[str, list[tuple[str, str]]] = {}  # table -> [(file name, alt text)]
    for table in tables:
        plots[table] = [
            (write_plot(out_dir, table, kind, figure), alt)
            for kind, alt, figure in table_figures(table, _latest_per_partition(by_table[table]))
        ]

    html = render_page(by_table, tables, plots, quarantine, freshness, releases, out_dir, now)
    index = out_dir / "index.html"
    write_atomic(index, html.encode("utf-8"))
    # Only after the new page is in place: plots the previous page used and this one does not.
    keep = {name for entries in plots.values() for name, _alt in entries}
    for old in out_dir.glob(PLOT_PATTERN):
        if old.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    return index


def _latest_per_partition(runs: Sequence[ValidationRun]) -> list[ValidationRun]:
    """The newest run of each partition (a re-validation supersedes the run before), oldest first."""
    latest: dict[date, ValidationRun] = {}
    for run in runs:  # newest first
        latest.setdefault(run.partition, run)
    return [latest[day] for day in sorted(latest)]
