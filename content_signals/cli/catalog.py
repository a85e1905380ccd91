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
    path: Annotated[Path, typer.Argument(help="Catalogue file (CSV or TSV).")],
    mapping: Annotated[
        str, typer.Option(help="Built-in column mapping (musicoset, spotify_tracks) or a mapping YAML file.")
    ] = "musicoset",
) -> None:
    """Replace the catalogue with a real track dataset; rows that cannot be imported are counted by
    reason and written to raw/catalog/import_rejects/."""
    from content_signals.catalog_mapping import load_mapping
    from content_signals.jobs.catalog_import import import_catalog as run_import
    from content_signals.spark import spark_session

    config = config_of(ctx)
    column_mapping = load_mapping(mapping)
    if not path.is_file():
        raise SignalsError(f"catalogue file {path} does not exist")
    summary = run_import(spark_session(config.spark), DataLayout(config.data_dir), path, column_mapping, say)
    say(summary.describe())
