"""CLI commands of the feature store: ``plan``, ``publish`` and ``training-set``."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from content_signals.cli.common import DateOption, config_of, parse_date, say
from content_signals.config import PlatformConfig


def plan(ctx: typer.Context) -> None:
    """Show what publishing would change in the Feast registry (Feast's plan, changes only)."""
    from content_signals.feature_repo.plan import plan as feast_plan

    changes = feast_plan(config_of(ctx))
    typer.echo("\n".join(changes) if changes else "no changes: the registry matches the signal definitions")


def publish(
    ctx: typer.Context,
    day: DateOption = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            help="Publish only this signal table (repeatable); it must have a validated partition.",
        ),
    ] = None,
) -> None:
    """Apply the Feast repo and materialize that date's validated partitions online.

    Every table with a validated partition of the date is published; the others (not computed,
    quarantined) are reported with the reason. Fails only when none can be published.
    """
    publish_day(config_of(ctx), parse_date(day), table or None)


def publish_day(config: PlatformConfig, day: date, tables: list[str] | None = None) -> None:
    """Publish ``tables`` (default: every signal table with a validated partition of ``day``)."""
    from content_signals.feature_repo.publishing import publish as publish_partitions

    publish_partitions(config, day, tables, progress=say)


def training_set(
    ctx: typer.Context,
    entities: Annotated[
        Path, typer.Option(help="Entity rows: CSV or Parquet with join keys and event_timestamp.")
    ],
    feature_service: Annotated[str, typer.Option(help="Feature service to retrieve, e.g. ranking_v1.")],
    out: Annotated[Path, typer.Option(help="Where to write the training set (a Parquet folder).")],
    labels: Annotated[
        Path | None, typer.Option(help="Timestamped labels (CSV or Parquet), joined point in time.")
    ] = None,
    label_ttl_days: Annotated[
        float | None, typer.Option(help="Ignore labels older than this at the entity row's time.")
    ] = None,
) -> None:
    """Point-in-time training set: every entity row, each feature as it was known at the row's time."""
    from content_signals.feature_repo.training_sets import check_training_set_paths, write_training_set
    from content_signals.spark import spark_session

    config = config_of(ctx)
    check_training_set_paths(entities, out, labels)
    ttl = timedelta(days=label_ttl_days) if label_ttl_days is not None else None
    summary = write_training_set(
        config, spark_session(config.spark), entities, feature_service, out, labels, ttl, progress=say
    )
    worst = sorted(summary.null_share.items(), key=lambda item: -item[1])[:3]
    say("most often missing: " + ", ".join(f"{name} {share:.0%}" for name, share in worst))
