"""CLI commands that run the signal jobs: ``jobs list``, ``jobs run`` and ``jobs backfill``; and
``index build``, the vector index built from a published ``content_embedding`` partition."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Annotated

import typer

from content_signals.cli.common import DateOption, config_of, parse_date, say
from content_signals.config import PlatformConfig
from content_signals.layout import DataLayout

jobs_app = typer.Typer(help="Run signal jobs.", no_args_is_help=True)


@jobs_app.command("list")
def jobs_list() -> None:
    """List the signal jobs."""
    from content_signals.definitions import SIGNAL_TABLES

    for table in SIGNAL_TABLES.values():
        typer.echo(f"{table.name}: {table.description}")


@jobs_app.command("run")
def jobs_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name, or 'all' (every job the deployment can run).")],
    day: DateOption = None,
) -> None:
    """Compute one daily partition, gate it, and publish it to the offline store or quarantine it.

    `all` runs every job this deployment can run and reports the rest as not run, with the reason
    (a deployment without listening events, a catalogue without audio features)."""
    config = config_of(ctx)
    run_jobs(config, name, [parse_date(day)])


@jobs_app.command("backfill")
def jobs_backfill(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name, or 'all'.")],
    start: Annotated[str | None, typer.Option(help="First date, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (inclusive), YYYY-MM-DD.")] = None,
) -> None:
    """Run jobs for every date from --start to --end; a quarantined day does not stop the others."""
    config = config_of(ctx)
    from content_signals.jobs.runner import date_range

    run_jobs(config, name, date_range(parse_date(start, "--start"), parse_date(end, "--end")))


def run_jobs(config: PlatformConfig, name: str, days: list[date]) -> None:
    """Run the named job (or ``all``) for each day. A batch runs with the runner's summary; a
    single partition shows its per-stage progress (compute, gate, publish).

    ``all`` runs every job this deployment can run and reports the others as not run (no listening
    events, no audio features); a job named on its own that cannot run is an error.
    """
    from content_signals.expectations.gate import quality_gate
    from content_signals.expectations.history import open_history
    from content_signals.jobs.runner import check_all_inputs, job_names, run_batch, run_job
    from content_signals.spark import spark_session

    layout = DataLayout(config.data_dir)
    names = job_names(name)
    if len(days) * len(names) > 1:
        start_spark = partial(spark_session, config.spark)
        run_batch(config, names, days, start_spark, say, run_what_can_run=name == "all")
        return
    check_all_inputs(layout, names, days, config.listening_events)  # fail fast, before Spark starts
    history = open_history(config)
    try:
        run_job(
            spark_session(config.spark),
            layout,
            names[0],
            days[0],
            quality_gate(config),
            say,
            history,
            models=config.models,
            listening_events=config.listening_events,
            similarity=config.similarity,
        )
    finally:
        history.close()


index_app = typer.Typer(help="The vector index of the text embeddings.", no_args_is_help=True)


@index_app.command("build")
def index_build(ctx: typer.Context, day: DateOption = None) -> None:
    """Build the day's vector index from the published content_embedding partition (or update the
    previous version); nothing to do when the version in place comes from the partition's current run."""
    config = config_of(ctx)
    from content_signals.jobs.vector_index import describe, ensure_index

    manifest, built = ensure_index(
        DataLayout(config.data_dir),
        parse_date(day),
        encoder=config.models.text_encoder,
        settings=config.similarity,
        progress=say,
    )
    say(describe(manifest) if built else f"{describe(manifest)} (already in place)")
