"""What every CLI command module shares: output, date parsing, the loaded config, exit codes."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Annotated

import typer

from content_signals.config import PlatformConfig
from content_signals.errors import SignalsError

DateOption = Annotated[str | None, typer.Option("--date", help="Partition date, YYYY-MM-DD (UTC).")]

EXIT_ERROR = 1
EXIT_GATE_FAILED = 3
EXIT_STALE = 4


def say(line: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {line}")


def parse_date(text: str | None, option: str = "--date") -> date:
    if text is None:
        raise SignalsError(f"{option} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SignalsError(f"invalid date {text!r}: expected YYYY-MM-DD") from None


def parse_timestamp(text: str, option: str) -> datetime:
    """An ISO-8601 time; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SignalsError(f"invalid {option} {text!r}: expected an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def config_of(ctx: typer.Context) -> PlatformConfig:
    """The config the main callback loaded, for this command (commands may be nested)."""
    config: PlatformConfig = ctx.find_root().obj
    return config
