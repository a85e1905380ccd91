"""CLI commands of the data-quality gate: validate, quarantine list/show/release, quality report
and freshness. Each parses its arguments, calls :mod:`content_signals.expectations.operations`, and prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from content_signals.cli.common import EXIT_STALE, DateOption, config_of, parse_date, say
from content_signals.config import PlatformConfig
from content_signals.errors import GateFailed
from content_signals.layout import DataLayout

quarantine_app = typer.Typer(
    help="Partitions the quality gate blocked: list, show, release.", no_args_is_help=True
)
quality_app = typer.Typer(help="Data-quality dashboard and freshness.", no_args_is_help=True)

TableArgument = Annotated[str, typer.Argument(help="Signal table, e.g. content_metadata.")]
RunOption = Annotated[str | None, typer.Option("--run", help="Quarantined run id (default: the newest).")]


def validate(ctx: typer.Context, table: TableArgument, day: DateOption = None) -> None:
    """Validate a partition again with today's suite (published, else its newest quarantined run)."""
    from content_signals.expectations import operations as quality
    from content_signals.spark import spark_session

    config = config_of(ctx)
    partition = parse_date(day)
    quality._table(table)  # an unknown table fails before Spark starts
    outcome = quality.validate(config, spark_session(config.spark), table, partition)
    say(f"validated {outcome.path}: {outcome.result.summary()}")
    if outcome.result.data_docs:
        say(f"data docs: {outcome.result.data_docs}")
    if not outcome.result.success:
        raise GateFailed(outcome.result.summary())


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    table: Annotated[str | None, typer.Option("--table", help="Only this table.")] = None,
) -> None:
    """Every quarantined run not yet released."""
    from content_signals.expectations.operations import quarantine_items
    from content_signals.layout import DataLayout

    items = quarantine_items(DataLayout(config_of(ctx).data_dir), table)
    if not items:
        typer.echo("nothing is quarantined")
    for item in items:
        typer.echo(
            f"{item.table}  {item.partition.isoformat()}  {item.run_id}  failed: {', '.join(item.failed)}"
        )


@quarantine_app.command("show")
def quarantine_show(
    ctx: typer.Context, table: TableArgument, day: DateOption = None, run: RunOption = None
) -> None:
    """One quarantined run's validation result (JSON)."""
    from content_signals.expectations.operations import show_quarantined
    from content_signals.layout import DataLayout

    record = show_quarantined(DataLayout(config_of(ctx).data_dir), table, parse_date(day), run)
    typer.echo(json.dumps(record, indent=2, default=str))


@quarantine_app.command("release")
def quarantine_release(
    ctx: typer.Context,
    table: TableArgument,
    day: DateOption = None,
    run: RunOption = None,
    override: Annotated[bool, typer.Option(help="Release without a passing re-validation.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --override); recorded.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who releases (default: the OS user).")] = None,
) -> None:
    """Publish a quarantined run offline after it passes re-validation (or with --override)."""
    from content_signals.expectations import operations as quality
    from content_signals.layout import DataLayout
    from content_signals.spark import spark_session

    config = config_of(ctx)
    partition = parse_date(day)
    # Fail before Spark starts: a wrong table, date or run, or an override without a reason.
    quality.check_release_reason(override, reason)
    quality.show_quarantined(DataLayout(config.data_dir), table, partition, run)
    result = quality.release(
        config, spark_session(config.spark), table, partition, run, override, reason, by, say
    )
    how = (
        f"override by {result.release.released_by}: {result.release.reason}"
        if override
        else "re-validation passed"
    )
    say(f"released {table} {partition.isoformat()} run {result.release.run_id} ({how}) to {result.published}")
    say(f"run `signals publish --date {partition.isoformat()}` to serve it online")


@quality_app.command("report")
def quality_report(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: <data_dir>/quality/report).")
    ] = None,
) -> None:
    """Render the static HTML dashboard for platform teams."""
    from content_signals.expectations.operations import report

    config = config_of(ctx)
    page = report(config, out, not_produced=_not_produced(config))
    say(f"dashboard: {page}")


def _not_produced(config: PlatformConfig) -> dict[str, str]:
    """The views this deployment cannot produce at all (no listening events, no audio features)."""
    from content_signals.jobs.inputs import Deployment
    from content_signals.jobs.runner import tables_not_produced

    return tables_not_produced(Deployment(DataLayout(config.data_dir), config.listening_events))


@quality_app.command("freshness")
def quality_freshness(ctx: typer.Context) -> None:
    """Per feature view, the newest materialized partition and its age; exit 4 if any is stale."""
    from content_signals.expectations.operations import freshness

    config = config_of(ctx)
    rows = freshness(config, not_produced=_not_produced(config))
    for row in rows:
        latest = row.latest_partition.isoformat() if row.latest_partition else "never published"
        age = f"{row.age_hours:.1f}h old" if row.age_hours is not None else "-"
        state = "STALE" if row.stale else f"not produced: {row.not_produced}" if row.not_produced else "fresh"
        typer.echo(f"{row.view:<22} {latest:<16} {age:<12} {state}")
    stale = [row.view for row in rows if row.stale]
    if stale:
        typer.echo(f"error: stale feature views: {', '.join(stale)}", err=True)
        sys.exit(EXIT_STALE)
