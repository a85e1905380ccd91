"""The dashboard's plots: a table's gate outcome, rows, null rates and drift per partition, as PNGs.

Drawn with matplotlib's Agg canvas directly (no ``pyplot``), so rendering never touches matplotlib's
global figure manager or backend selection and is safe inside a long-lived process. A plot's file
name carries a hash of its bytes, so the previous page's plots stay valid until the new page is in
place.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from content_signals.expectations.history import Outcome, ValidationRun
from content_signals.files import write_atomic

_COLOURS: dict[Outcome, str] = {"passed": "#1a7f37", "warned": "#bf8700", "blocked": "#cf222e"}

_MARKERS: dict[Outcome, str] = {"passed": "o", "warned": "^", "blocked": "X"}

# Up to this many partitions, every partition gets its own labelled tick.
_LABELLED_PARTITIONS = 10

# Plot width in inches at 100 dpi: the width of a section's content, so plots are not rescaled.
_WIDTH = 10.6

PLOT_PATTERN = "plot-*.png"


def _mpl_text(text: str) -> str:
    """Literal text for matplotlib: an unescaped ``$`` pair would otherwise be parsed as math."""
    return text.replace("$", r"\$")


def _value(metrics: dict[str, float | None], key: str) -> float:
    value = metrics.get(key)
    return math.nan if value is None else float(value)


def _x(days: Sequence[date]) -> list[float]:
    """Partition dates as matplotlib's date numbers (days), the unit its date locators work in."""
    return [float(date2num(day)) for day in days]


def _series(series: Sequence[ValidationRun], signal: str, metric: str) -> list[float]:
    """One value per partition; NaN where a run lacks it (matplotlib leaves a gap)."""
    return [_value(run.stats.get(signal, {}), metric) for run in series]


def _date_axis(ax: Axes, days: Sequence[date]) -> None:
    if 0 < len(days) <= _LABELLED_PARTITIONS:
        # Few partitions: a tick on each, so every mark can be read off against its date.
        ax.set_xticks(_x(days), [day.strftime("%b %d") for day in days])
    else:
        locator = AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if days:
        # Half a day either side: one partition would otherwise give a zero-width axis.
        ax.set_xlim(float(date2num(min(days))) - 0.5, float(date2num(max(days))) + 0.5)
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)


def table_figures(table: str, series: list[ValidationRun]) -> list[tuple[str, str, Figure]]:
    """(kind, alt text, figure) for one table, from its newest run per partition."""
    days = [run.partition for run in series]
    x = _x(days)
    figures: list[tuple[str, str, Figure]] = []

    status = Figure(figsize=(_WIDTH, 1.9), dpi=100, layout="constrained")
    ax = status.add_subplot()
    levels = {"passed": 0, "warned": 1, "blocked": 2}
    for outcome in ("passed", "warned", "blocked"):
        picked = [run.partition for run in series if run.outcome == outcome]
        if picked:
            ax.scatter(
                _x(picked),
                [levels[outcome]] * len(picked),
                s=70,
                color=_COLOURS[outcome],
                marker=_MARKERS[outcome],
                label=outcome,
                zorder=3,
            )
    ax.set_yticks([0, 1, 2], ["passed", "warned", "blocked"])
    ax.set_ylim(-0.6, 2.6)
    ax.set_title(_mpl_text(f"{table}: gate outcome per partition"), fontsize=10, loc="left")
    _date_axis(ax, days)
    figures.append(("status", f"{table}: gate outcome per partition", status))

    rows = Figure(figsize=(_WIDTH, 2.4), dpi=100, layout="constrained")
    ax = rows.add_subplot()
    ax.plot(x, [run.rows for run in series], color="#57606a", linewidth=1.2, zorder=2)
    for run in series:
        ax.scatter(
            _x([run.partition]),
            [run.rows],
            color=_COLOURS[run.outcome],
            marker=_MARKERS[run.outcome],
            zorder=3,
        )
    # From zero (a collapse must look like one), with headroom so the top mark is not clipped.
    ax.set_ylim(0, max(run.rows for run in series) * 1.12 or 1)
    ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
    ax.set_title(_mpl_text(f"{table}: rows per partition"), fontsize=10, loc="left")
    _date_axis(ax, days)
    figures.append(("rows", f"{table}: rows per partition", rows))

    signals = list(dict.fromkeys(signal for run in reversed(series) for signal in run.stats))
    with_nulls = [
        s for s in signals if any(run.stats.get(s, {}).get("null_rate") is not None for run in series)
    ]
    if with_nulls:
        nulls = Figure(figsize=(_WIDTH, 2.6), dpi=100, layout="constrained")
        ax = nulls.add_subplot()
        for signal in with_nulls:
            values = _series(series, signal, "null_rate")
            ax.plot(x, values, marker="o", markersize=4, linewidth=1.2, label=_mpl_text(signal))
        highest = max(
            (v for s in with_nulls for v in _series(series, s, "null_rate") if not math.isnan(v)), default=0
        )
        ax.set_ylim(0, highest * 1.15 or 0.01)
        decimals = 0 if highest >= 0.05 else 1  # the same precision on every tick
        ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:.{decimals}%}")
        ax.set_title(_mpl_text(f"{table}: null rate of key signals"), fontsize=10, loc="left")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        _date_axis(ax, days)
        figures.append(("nulls", f"{table}: null rate of key signals per partition", nulls))

    with_centre = [
        s
        for s in signals
        if any(run.stats.get(s, {}).get(k) is not None for run in series for k in ("mean", "p50"))
    ]
    if with_centre:
        columns = min(3, len(with_centre))
        grid_rows = math.ceil(len(with_centre) / columns)
        drift = Figure(figsize=(_WIDTH, 0.4 + 2.1 * grid_rows), dpi=100, layout="constrained")
        axes = drift.subplots(grid_rows, columns, squeeze=False)
        for index, signal in enumerate(with_centre):
            ax = axes[index // columns][index % columns]
            metrics = [run.stats.get(signal, {}) for run in series]
            mean = [_value(m, "mean") for m in metrics]
            stddev = [_value(m, "stddev") for m in metrics]
            ax.fill_between(
                x,
                [m - s for m, s in zip(mean, stddev, strict=True)],
                [m + s for m, s in zip(mean, stddev, strict=True)],
                color="#0969da",
                alpha=0.12,
                linewidth=0,
                label="mean ± stddev",
            )
            ax.plot(x, mean, marker="o", markersize=3, color="#0969da", linewidth=1.2, label="mean")
            ax.plot(
                x,
                [_value(m, "p50") for m in metrics],
                marker="s",
                markersize=3,
                color="#bc4c00",
                linewidth=1.2,
                linestyle="--",
                label="p50",
            )
            ax.set_title(_mpl_text(signal), fontsize=9, loc="left")
            ax.tick_params(labelsize=7)
            _date_axis(ax, days)
        for index in range(len(with_centre), grid_rows * columns):
            axes[index // columns][index % columns].set_visible(False)
        axes[0][0].legend(fontsize=7, loc="best")
        drift.suptitle(
            _mpl_text(f"{table}: drift of key signals (mean, p50)"), fontsize=10, x=0.01, ha="left"
        )
        figures.append(("drift", f"{table}: mean and p50 of key signals per partition", drift))
    return figures


def slug(name: str) -> str:
    """A file-name and anchor-safe form of a name; the hash keeps distinct names distinct."""
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "table"
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def write_plot(out_dir: Path, table: str, kind: str, figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    data = buffer.getvalue()
    name = f"plot-{slug(table)}-{kind}-{hashlib.sha256(data).hexdigest()[:12]}.png"
    if not (out_dir / name).exists():  # same name, same bytes
        write_atomic(out_dir / name, data)
    return name
