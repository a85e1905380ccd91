"""CLI commands that fill the catalogue: ``generate`` (synthetic data) and ``import catalog``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from content_signals.cli.common import config_of, parse_date, say
from content_signals.config import PlatformConfig
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout

if TYPE_CHECKING:
    from content_signals.synthetic import GenerationSpec

import_app = typer.Typer(help="Import real data into the platform's schema.", no_args_is_help=True)


def generate(
    ctx: typer.Context,
    items: Annotated[int, typer.Option(min=1, help="Content items.")] = 2_000,
    creators: Annotated[int, typer.Option(min=1, help="Creators.")] = 200,
    days: Annotated[int, typer.Option(min=1, help="Days of listening events.")] = 14,
    events_per_day: Annotated[int, typer.Option(min=1, help="Listening events per day.")] = 20_000,
    users: Annotated[int, typer.Option(min=1, help="Distinct listeners.")] = 5_000,
    start_date: Annotated[str, typer.Option(help="First day of events, YYYY-MM-DD.")] = "2026-01-01",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
) -> None:
    """Write a deterministic synthetic catalogue and listening events as Parquet."""
    from content_signals.synthetic import GenerationSpec

    spec = GenerationSpec(
        items=items,
        creators=creators,
        days=days,
        events_per_day=events_per_day,
        users=users,
        start_date=parse_date(start_date, "--start-date"),
        seed=seed,
    )
    generate_catalogue(config_of(ctx), spec)


def generate_catalogue(config: PlatformConfig, spec: GenerationSpec) -> None:
    """Write the synthetic data under the config's data directory and say how much was written."""
    from content_signals.synthetic import write_catalogue

    counts = write_catalogue(spec, DataLayout(config.data_dir), say)
    say(
        f"generated {counts['items']:,} items, {counts['creators']:,} creators, "
        f"{counts['events']:,} events under {config.data_dir}"
    )


@import_app.command("catalog")
def import_catalog(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Catalogue file (CSV, TSV or other delimited text; or JSON).")],
    mapping: Annotated[
        str,
        typer.Option(help="Built-in column mapping (musicoset, spotify_tracks, …) or a mapping YAML file."),
    ] = "musicoset",
    infer: Annotated[
        bool, typer.Option("--infer", help="Print a starting mapping for this file (edit it, then import).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Judge the file and report what would change; write nothing.")
    ] = False,
    mode: Annotated[
        str | None,
        typer.Option(help="merge (default once a catalogue exists: upsert by content id) or replace."),
    ] = None,
    min_accepted_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Refuse the file unless this share of rows is accepted "
            "(default: the config's imports.min_accepted_share, 0.5).",
        ),
    ] = None,
) -> None:
    """Import a real catalogue: merge it into the catalogue (or replace it), or refuse it whole.

    Rows that cannot be imported are counted by reason and written under raw/imports/<id>/rejects;
    every import is recorded (`signals import history`).
    """
    config = config_of(ctx)
    if infer:
        from content_signals.mapping_inference import infer_catalog_mapping

        typer.echo(infer_catalog_mapping(path), nl=False)
        return
    from content_signals.catalog_mapping import load_mapping
    from content_signals.jobs.catalog_import import import_catalog as run_import
    from content_signals.jobs.file_import import check_header
    from content_signals.spark import spark_session

    if mode not in (None, "merge", "replace"):
        raise SignalsError(f"--mode must be merge or replace, not {mode!r}")
    column_mapping = load_mapping(mapping)
    check_header(path, column_mapping, "catalogue")  # before Spark starts: a wrong layout fails in a second
    summary = run_import(
        spark_session(config.spark),
        DataLayout(config.data_dir),
        path,
        column_mapping,
        say,
        mode=mode,  # type: ignore[arg-type]
        min_accepted_share=config.imports.min_accepted_share
        if min_accepted_share is None
        else min_accepted_share,
        dry_run=dry_run,
    )
    say(summary.describe())


@import_app.command("history")
def import_history(
    ctx: typer.Context,
    last: Annotated[int, typer.Option(min=1, help="Show the newest N imports.")] = 20,
) -> None:
    """Every import recorded, newest last: when, which file (fingerprint), mapping, outcome, counts."""
    from content_signals.import_log import import_log

    records = import_log(DataLayout(config_of(ctx).data_dir))[-last:]
    if not records:
        typer.echo("no imports recorded")
    for r in records:
        changes = ", ".join(f"{k} {v:,}" for k, v in r.changes.items()) or "no changes"
        rejected = sum(r.rejected.values())
        typer.echo(
            f"{r.started_at[:19]} {r.import_id} {r.kind} {r.outcome} ({r.mode}) {Path(r.source).name} "
            f"sha256:{r.fingerprint} mapping {r.mapping}@{r.mapping_digest}: {r.accepted:,}/{r.rows:,} "
            f"accepted, {rejected:,} rejected; {changes}"
        )
