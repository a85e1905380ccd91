"""CLI command that brings real listening data in: ``import events``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from content_signals.cli.common import config_of, say
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout


class Mode(StrEnum):
    MERGE = "merge"
    REPLACE = "replace"


def import_events(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="Listening log (CSV, or JSON: an array or one object per line).")
    ],
    mapping: Annotated[
        str,
        typer.Option(
            help="Built-in mapping (spotify_extended_history, generic_csv) or a mapping YAML file.",
            show_default=False,
        ),
    ],
    mode: Annotated[
        Mode,
        typer.Option(
            help="merge: add the events each day does not have yet; "
            "replace: each day of the file holds exactly the file's events."
        ),
    ] = Mode.MERGE,
    keep_unknown_items: Annotated[
        bool,
        typer.Option(
            "--keep-unknown-items", help="Keep events of items the catalogue does not know (else rejected)."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Judge every row, print counts and examples per reason; write nothing."
        ),
    ] = False,
    min_accepted_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Refuse the file unless at least this share of its rows is accepted "
            "(default: the config's imports.min_accepted_share, 0.5 unless set).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import listening events into raw/events/date=D/ (UTC days); rows that cannot be imported are
    counted by reason and written to raw/imports/<import id>/rejects/."""
    from content_signals.events_mapping import load_events_mapping
    from content_signals.jobs.events_import import import_events as run_import
    from content_signals.spark import spark_session

    config = config_of(ctx)
    events_mapping = load_events_mapping(mapping)
    if not path.is_file():
        raise SignalsError(f"events file {path} does not exist")
    share = config.imports.min_accepted_share if min_accepted_share is None else min_accepted_share
    summary = run_import(
        spark_session(config.spark),
        DataLayout(config.data_dir),
        path,
        events_mapping,
        share,
        mode="replace" if mode is Mode.REPLACE else "merge",
        keep_unknown_items=keep_unknown_items,
        dry_run=dry_run,
        progress=say,
    )
    for line in summary.describe().splitlines():
        say(line)
