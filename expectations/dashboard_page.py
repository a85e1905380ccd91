"""The dashboard's HTML: one self-contained page (inline CSS, no JavaScript, nothing fetched).

Every piece of text that comes from data (table, signal and expectation names, observed values,
reasons) is HTML-escaped, and only ``http``, ``https`` and ``file`` links are emitted, so a
malicious or odd name cannot inject markup or script.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

from content_signals.expectations.dashboard_plots import slug
from content_signals.expectations.history import ExpectationOutcome, Outcome, Release, ValidationRun


# The rows of the quarantine and freshness sections; the gate's operations build them.
@dataclass(frozen=True)
class QuarantineItem:
    table: str
    partition: date
    run_id: str
    failed: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class FreshnessRow:
    view: str
    latest_partition: date | None
    age_hours: float | None
    stale: bool
    # Why this deployment does not produce the view at all (a catalogue without listening events
    # has no engagement): then it is neither fresh nor stale.
    not_produced: str = ""


# Worst first: the page's overall status is the worst latest outcome of any table.
_SEVERITY_ORDER: dict[Outcome, int] = {"blocked": 0, "warned": 1, "passed": 2}

# Runs listed per table; older ones stay in the history (and in the plots, one mark per partition).
_RUNS_LISTED = 30

_OVERRIDE = '<span class="badge override">override</span>'

_CSS = """
:root { --passed: #1a7f37; --passed-bg: #dafbe1; --warned: #9a6700; --warned-bg: #fff8c5;
        --blocked: #cf222e; --blocked-bg: #ffebe9; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", "Liberation Sans", system-ui, sans-serif;
       color: #1f2328; background: #f6f8fa; }
header { padding: 20px 32px; border-bottom: 4px solid var(--line); background: #fff; }
header.overall-blocked { border-bottom-color: var(--blocked); }
header.overall-warned { border-bottom-color: var(--warned); }
header.overall-passed { border-bottom-color: var(--passed); }
h1 { margin: 0 0 6px; font-size: 22px; }
h2 { margin: 0 0 12px; font-size: 18px; }
h3 { margin: 18px 0 8px; font-size: 15px; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 32px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 16px 20px;
          margin: 16px 0; overflow-x: auto; }
nav { font-size: 13px; color: var(--muted); margin-top: 8px; }
nav a { margin-right: 12px; }
a { color: #0969da; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12px "DejaVu Sans Mono", monospace; background: #f6f8fa; padding: 1px 4px; border-radius: 4px; }
.nowrap { white-space: nowrap; }
/* Long identifiers (run ids, paths, expectation names) wrap rather than widen the page. */
.path, code.run, ul.failed code { overflow-wrap: anywhere; }
td.run { min-width: 13em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px;
         text-transform: uppercase; letter-spacing: .03em; border: 1px solid currentColor; }
.badge.passed { color: var(--passed); background: var(--passed-bg); }
.badge.warned { color: var(--warned); background: var(--warned-bg); }
.badge.blocked { color: var(--blocked); background: var(--blocked-bg); }
.badge.none, .badge.fresh { color: var(--muted); background: #f6f8fa; }
.badge.stale { color: var(--blocked); background: var(--blocked-bg); }
.badge.override { color: var(--warned); background: var(--warned-bg); }
tr.stale td { background: var(--blocked-bg); }
.muted { color: var(--muted); }
.summary { font-size: 15px; margin: 4px 0; }
ul.failed { margin: 4px 0; padding-left: 18px; }
ul.failed li { margin: 2px 0; }
.plots img { display: block; max-width: 100%; height: auto; margin: 8px 0; border: 1px solid var(--line);
             border-radius: 4px; background: #fff; }
"""


def _failed(run: ValidationRun) -> list[ExpectationOutcome]:
    # Errors first: they are why a partition is blocked.
    return sorted((e for e in run.expectations if not e.success), key=lambda e: e.severity != "error")


def _describe(outcome: ExpectationOutcome) -> str:
    target = f"({outcome.column})" if outcome.column else ""
    return f"{outcome.expectation}{target}"


def _overall(latest: Iterable[ValidationRun]) -> Outcome | None:
    outcomes: list[Outcome] = [run.outcome for run in latest]
    if not outcomes:
        return None
    return min(outcomes, key=lambda outcome: _SEVERITY_ORDER[outcome])


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _badge(outcome: str | None) -> str:
    if outcome is None:
        return '<span class="badge none">no runs</span>'
    return f'<span class="badge {_e(outcome)}">{_e(outcome)}</span>'


def _when(moment: datetime, now: datetime) -> str:
    hours = (now - moment).total_seconds() / 3600
    ago = _age(hours) + " ago" if hours >= 0 else "in the future"
    stamp = _e(moment.strftime("%Y-%m-%d %H:%M UTC"))
    return f'<span class="nowrap">{stamp}</span> <span class="muted nowrap">({_e(ago)})</span>'


def _age(hours: float) -> str:
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}"


def _href(target: str, out_dir: Path) -> str | None:
    """A link to a page: relative when it lies under ``out_dir``'s parent, else a file:// URL.

    Great Expectations reports its Data Docs as ``file://`` URLs; those are treated as the paths
    they name, so that the dashboard and the docs can be moved or served together (the default
    layout keeps both under the data directory's ``quality/``). A relative path is taken as
    relative to ``out_dir``'s parent. http(s) URLs are kept; any other scheme (``javascript:``…)
    is dropped.
    """
    fragment = ""
    if target.lower().startswith("file://"):
        parsed = urlsplit(target)
        target = url2pathname(parsed.path)
        fragment = f"#{quote(unquote(parsed.fragment))}" if parsed.fragment else ""
    elif "://" in target or target.lower().startswith(("javascript:", "data:", "vbscript:")):
        return target if target.lower().startswith(("http://", "https://")) else None
    base = out_dir.resolve()
    path = Path(target).expanduser()
    path = (path if path.is_absolute() else base.parent / path).resolve()
    if path.is_relative_to(base.parent):
        return quote(os.path.relpath(path, base).replace(os.sep, "/")) + fragment
    return path.as_uri() + fragment


def _link(target: str | None, label: str, out_dir: Path) -> str:
    href = _href(target, out_dir) if target else None
    if href is None:
        return '<span class="muted">—</span>'
    return f'<a href="{_e(href)}">{_e(label)}</a>'


def _failed_list(run: ValidationRun) -> str:
    failed = _failed(run)
    if not failed:
        return '<span class="muted">none</span>'
    items = []
    for outcome in failed:
        details = [
            f"<code>{_e(_describe(outcome))}</code> <span class='muted'>[{_e(outcome.severity)}]</span>"
        ]
        if outcome.observed:
            details.append(_e(outcome.observed))
        if outcome.threshold:
            details.append(f'<span class="muted">expected {_e(outcome.threshold)}</span>')
        items.append("<li>" + " — ".join(details) + "</li>")
    return '<ul class="failed">' + "".join(items) + "</ul>"


def render_page(
    by_table: dict[str, list[ValidationRun]],
    tables: list[str],
    plots: dict[str, list[tuple[str, str]]],
    quarantine: Sequence[QuarantineItem],
    freshness: Sequence[FreshnessRow],
    releases: Sequence[Release],
    out_dir: Path,
    now: datetime,
) -> str:
    latest = {table: by_table[table][0] for table in tables}
    overall = _overall(latest.values())
    counts = {
        o: sum(1 for run in latest.values() if run.outcome == o) for o in ("blocked", "warned", "passed")
    }
    stale = [row for row in freshness if row.stale]
    if tables:
        plural = "s" if len(tables) != 1 else ""
        summary = f"{len(tables)} table{plural}: " + ", ".join(f"{n} {o}" for o, n in counts.items())
    else:
        summary = "No validation runs recorded yet"
    facts = [
        summary,
        f"{len(quarantine)} partition{'s' if len(quarantine) != 1 else ''} in quarantine",
        f"{len(stale)} of {len(freshness)} feature views stale",
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # An empty icon: the browser would otherwise ask for favicon.ico, which does not exist.
        '<link rel="icon" href="data:,">',
        "<title>Content Signals · data quality</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<header class="overall-{_e(overall or "none")}">',
        "<h1>Content Signals · data quality</h1>",
        f'<p class="summary" id="overall-status">Overall status: {_badge(overall)}</p>',
        f'<p class="summary">{_e(" · ".join(facts))}</p>',
        f'<p class="muted">Generated {_e(now.strftime("%Y-%m-%d %H:%M UTC"))} '
        "from the validation history.</p>",
        '<nav><a href="#tables">Tables</a><a href="#quarantine">Quarantine</a>'
        '<a href="#freshness">Freshness</a>'
        + "".join(f'<a href="#table-{_e(slug(t))}">{_e(t)}</a>' for t in tables)
        + '<a href="#releases">Releases</a></nav>',
        "</header><main>",
        _summary_section(tables, latest, out_dir, now),
        _quarantine_section(quarantine, out_dir),
        _freshness_section(freshness),
        *(_table_section(t, by_table[t], plots[t], out_dir, now) for t in tables),
        _releases_section(releases, now),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _summary_section(
    tables: list[str], latest: dict[str, ValidationRun], out_dir: Path, now: datetime
) -> str:
    if not tables:
        return (
            '<section id="tables"><h2>Latest status per table</h2>'
            '<p class="muted">No validation runs recorded yet. Runs appear here once a signal job has '
            "been through the quality gate.</p></section>"
        )
    rows = []
    for table in tables:
        run = latest[table]
        rows.append(
            f'<tr data-table="{_e(table)}"><td><a href="#table-{_e(slug(table))}">{_e(table)}</a></td>'
            f'<td class="status">{_badge(run.outcome)}</td>'
            f'<td class="nowrap">{_e(run.partition.isoformat())}</td>'
            f"<td>{_when(run.validated_at, now)}</td>"
            f'<td class="num">{run.rows:,}</td><td>{_failed_list(run)}</td>'
            f"<td class='nowrap'>{_link(run.data_docs, 'Data Docs', out_dir)}</td></tr>"
        )
    return (
        '<section id="tables"><h2>Latest status per table</h2><table><thead><tr><th>table</th>'
        "<th>status</th><th>partition</th><th>validated</th><th>rows</th><th>failed expectations</th>"
        "<th>report</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def _quarantine_section(quarantine: Sequence[QuarantineItem], out_dir: Path) -> str:
    if not quarantine:
        return (
            '<section id="quarantine"><h2>Quarantine</h2>'
            '<p class="muted">Nothing in quarantine.</p></section>'
        )
    rows = []
    for item in sorted(quarantine, key=lambda q: (q.table, q.partition, q.run_id)):
        failed = "".join(f"<li><code>{_e(name)}</code></li>" for name in item.failed)
        rows.append(
            f'<tr data-table="{_e(item.table)}"><td>{_e(item.table)}</td>'
            f'<td class="nowrap">{_e(item.partition.isoformat())}</td>'
            f'<td class="run"><code class="run">{_e(item.run_id)}</code></td>'
            f"<td>{f'<ul class=failed>{failed}</ul>' if failed else '<span class=muted>—</span>'}</td>"
            f'<td class="path">{_link(str(item.path), str(item.path), out_dir)}</td></tr>'
        )
    return (
        '<section id="quarantine"><h2>Quarantine</h2>'
        "<p>These partitions failed the gate and are not served; the previous good values keep serving.</p>"
        "<table><thead><tr><th>table</th><th>partition</th><th>run</th><th>failed expectations</th>"
        "<th>path</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def _freshness_section(freshness: Sequence[FreshnessRow]) -> str:
    if not freshness:
        return (
            '<section id="freshness"><h2>Freshness of the online store</h2>'
            '<p class="muted">No feature views reported.</p></section>'
        )
    rows = []
    for row in sorted(freshness, key=lambda r: (not r.stale, r.view)):
        state = "stale" if row.stale else "not produced" if row.not_produced else "fresh"
        flag = f'<span class="badge {state}" title="{_e(row.not_produced)}">{state}</span>'
        latest = row.latest_partition.isoformat() if row.latest_partition else "never materialized"
        age = _age(row.age_hours) if row.age_hours is not None else "—"
        rows.append(
            f'<tr class="{state}" data-view="{_e(row.view)}"><td>{_e(row.view)}</td>'
            f'<td>{_e(latest)}</td><td class="num">{_e(age)}</td><td>{flag}</td></tr>'
        )
    return (
        '<section id="freshness"><h2>Freshness of the online store</h2><table><thead><tr>'
        "<th>feature view</th><th>latest materialized partition</th><th>age</th><th>state</th></tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def _table_section(
    table: str, runs: list[ValidationRun], plots: list[tuple[str, str]], out_dir: Path, now: datetime
) -> str:
    latest = runs[0]
    stats_rows = "".join(
        f"<tr><td><code>{_e(signal)}</code></td>"
        + "".join(f'<td class="num">{_e(_number(metrics.get(k)))}</td>' for k in ("mean", "stddev", "p50"))
        + f'<td class="num">{_e(_percent(metrics.get("null_rate")))}</td></tr>'
        for signal, metrics in latest.stats.items()
    )
    stats = (
        "<h3>Key signals in the latest run</h3><table><thead><tr><th>signal</th><th>mean</th><th>stddev</th>"
        f"<th>p50</th><th>null rate</th></tr></thead><tbody>{stats_rows}</tbody></table>"
        if stats_rows
        else ""
    )
    images = "".join(f'<img src="{_e(quote(name))}" alt="{_e(alt)}" loading="eager">' for name, alt in plots)
    listed = runs[:_RUNS_LISTED]
    run_rows = "".join(
        f'<tr><td class="nowrap">{_e(run.partition.isoformat())}</td><td>{_when(run.validated_at, now)}</td>'
        f'<td>{_badge(run.outcome)}<br><span class="muted">{_e(_how(run, latest.suite))}</span></td>'
        f'<td class="num">{run.rows:,}</td><td>{_failed_list(run)}</td>'
        f'<td class="run"><code class="run">{_e(run.run_id)}</code></td>'
        f"<td class='nowrap'>{_link(run.data_docs, 'Data Docs', out_dir)}</td></tr>"
        for run in listed
    )
    more = (
        f'<p class="muted">Showing the newest {len(listed)} of {len(runs)} runs.</p>'
        if len(runs) > len(listed)
        else ""
    )
    return (
        f'<section id="table-{_e(slug(table))}" data-table="{_e(table)}">'
        f"<h2>{_e(table)} {_badge(latest.outcome)}</h2>"
        f"<p>Latest: partition {_e(latest.partition.isoformat())}, suite <code>{_e(latest.suite)}</code>, "
        f"validated {_when(latest.validated_at, now)}, {latest.rows:,} rows."
        f"{' ' + _link(latest.data_docs, 'Data Docs', out_dir) if latest.data_docs else ''}</p>"
        f"<h3>Failed expectations in the latest run</h3>{_failed_list(latest)}"
        f"{stats}"
        f'<h3>Over time</h3><div class="plots">{images}</div>'
        "<h3>Runs</h3><table><thead><tr><th>partition</th><th>validated</th><th>outcome</th>"
        "<th>rows</th><th>failed expectations</th><th>run</th><th>report</th></tr></thead>"
        f"<tbody>{run_rows}</tbody></table>{more}</section>"
    )


def _how(run: ValidationRun, current_suite: str) -> str:
    """What triggered the run, and its suite when that is not the table's current one."""
    return run.trigger if run.suite == current_suite else f"{run.trigger} · {run.suite}"


def _percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.2%}"


def _releases_section(releases: Sequence[Release], now: datetime) -> str:
    if not releases:
        return (
            '<section id="releases"><h2>Releases</h2>'
            '<p class="muted">No quarantined run was released.</p></section>'
        )
    rows = "".join(
        f'<tr><td>{_e(r.table)}</td><td class="nowrap">{_e(r.partition.isoformat())}</td>'
        f'<td class="run"><code class="run">{_e(r.run_id)}</code></td>'
        f"<td>{_when(r.released_at, now)}</td><td>{_e(r.released_by)}</td>"
        f"<td>{_OVERRIDE if r.override else 're-validated'}</td>"
        f"<td>{_e(r.reason) if r.reason else '<span class=muted>—</span>'}</td></tr>"
        for r in releases[:_RUNS_LISTED]
    )
    return (
        '<section id="releases"><h2>Releases</h2><p>Quarantined runs released by hand; an override released '
        "a partition without a passing re-validation.</p><table><thead><tr><th>table</th><th>partition</th>"
        "<th>run</th><th>released</th><th>by</th><th>how</th><th>reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )
