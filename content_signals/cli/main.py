"""The ``signals`` command line: the root command, its options, and every command group.

Every command loads the config once (:func:`main_options`) and passes it down. Errors a user can act
on print one line (``error: ...``) and exit non-zero; heavy libraries are imported only by the
commands that use them. The commands live in one module per group; this module only wires them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from content_signals.cli import catalog, demo, events, gate, jobs, models, publish, serve
from content_signals.cli.common import EXIT_ERROR, EXIT_GATE_FAILED
from content_signals.config import PlatformConfig, load_config
from content_signals.errors import GateFailed, SignalsError

app = typer.Typer(
    help="Content Signals: compute, validate, publish and serve signals about catalogue content.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Top-level commands, in the order `signals --help` lists them.
app.command()(gate.validate)
app.command()(catalog.generate)
app.command()(publish.plan)
app.command()(publish.publish)
app.command("training-set")(publish.training_set)
app.command()(models.evaluate)
app.command()(models.promote)
app.command()(serve.serve)
app.command()(demo.demo)
# Command groups.
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(jobs.index_app, name="index")
app.add_typer(models.train_app, name="train")
app.add_typer(models.review_app, name="review")
app.add_typer(catalog.import_app, name="import")
catalog.import_app.command("events")(events.import_events)
app.add_typer(gate.quarantine_app, name="quarantine")
app.add_typer(gate.quality_app, name="quality")


def prepare_process(config: PlatformConfig) -> None:
    """Process-wide settings the engines read from the environment, set once at the CLI edge.

    Feast's metrics module would otherwise create a temp folder per process (Ray starts many) and
    point Prometheus at it; Ray would report usage statistics; Spark would guess a network address.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    metrics_dir = Path(tempfile.gettempdir()) / f"content_signals_metrics_{os.getuid()}"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROCESS_DIR", str(metrics_dir))
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # Feast warns on every use that its Spark offline store is "alpha"; we chose it deliberately
    # (it keeps every training row, unlike the file store), so the warning is noise here.
    warnings.filterwarnings(
        "ignore",
        message="The spark (data source API|offline store) is an experimental",
        category=RuntimeWarning,
    )


@app.callback()
def main_options(
    ctx: typer.Context,
    config_path: Annotated[
        Path | None,
        typer.Option("--config", envvar="SIGNALS_CONFIG", help="YAML config; embedded defaults if unset."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Overrides the config's data_dir.")
    ] = None,
) -> None:
    overrides: dict[str, Any] = {"data_dir": str(data_dir)} if data_dir else {}
    ctx.obj = load_config(config_path, overrides=overrides)
    prepare_process(ctx.obj)


def main() -> None:
    """Console entry point: one-line errors and meaningful exit codes."""
    try:
        result = app(standalone_mode=False)
    except GateFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_GATE_FAILED)
    except SignalsError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors (unknown option, bad value): one line instead of a usage block.
        typer.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_ERROR))
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
