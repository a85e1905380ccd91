"""The ``signals`` command line.

Every command loads the config once and passes it down. Errors a user can act on print one line
(``error: ...``) and exit non-zero; heavy libraries are imported only by the commands that use them.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from content_signals.cli.common import (
    EXIT_ERROR,
    EXIT_GATE_FAILED,
    DateOption,
    config_of,
    parse_date,
    parse_timestamp,
    say,
)
from content_signals.cli.gate import quality_app, quarantine_app, validate
from content_signals.config import PlatformConfig, load_config
from content_signals.errors import GateFailed, SignalsError
from content_signals.layout import DataLayout

# The real labelled corpus (../shared/data, read in place, never copied into the repo).
DEFAULT_SAFETY_CORPUS = Path("../shared/data/text/davidson_labeled.csv")
# The demo trains on a stratified sample: the whole corpus takes minutes to encode on 2 CPU cores.
DEMO_SAFETY_TEXTS = 2_000

app = typer.Typer(
    help="Content Signals: compute, validate, publish and serve signals about catalogue content.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="Run signal jobs.", no_args_is_help=True)
train_app = typer.Typer(help="Train models on point-in-time features.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
import_app = typer.Typer(help="Import real data into the platform's schema.", no_args_is_help=True)
app.add_typer(train_app, name="train")
review_app = typer.Typer(
    help="The review loop: export items to review, import their labels.", no_args_is_help=True
)
app.add_typer(review_app, name="review")
app.add_typer(import_app, name="import")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(quality_app, name="engagement")
app.command()(validate)


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


@app.command()
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
    from content_signals.synthetic import GenerationSpec, write_catalogue

    config = config_of(ctx)
    spec = GenerationSpec(
        items=items,
        creators=creators,
        days=days,
        events_per_day=events_per_day,
        users=users,
        start_date=parse_date(start_date, "--start-date"),
        seed=seed,
    )
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


@jobs_app.command("list")
def jobs_list() -> None:
    """List the signal jobs."""
    from content_signals.definitions import SIGNAL_TABLES

    for table in SIGNAL_TABLES.values():
        typer.echo(f"{table.name}: {table.description}")


@jobs_app.command("run")
def jobs_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name, or 'all'.")],
    day: DateOption = None,
) -> None:
    """Compute one daily partition, gate it, and publish it to the offline store or quarantine it."""
    config = config_of(ctx)
    _run_jobs(config, name, [parse_date(day)])


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

    _run_jobs(config, name, date_range(parse_date(start, "--start"), parse_date(end, "--end")))


def _run_jobs(config: PlatformConfig, name: str, days: list[date]) -> None:
    from content_signals.expectations.gate import quality_gate
    from content_signals.expectations.history import open_history
    from content_signals.jobs.runner import check_all_inputs, job_names, run_batch, run_job
    from content_signals.spark import spark_session

    layout = DataLayout(config.data_dir)
    names = job_names(name)
    if len(days) * len(names) > 1:
        run_batch(config, names, days, lambda: spark_session(config.spark), say)
        return
    check_all_inputs(layout, names, days)  # fail fast, before paying for a Spark session
    # One partition: its per-stage progress (compute, gate, publish) is worth showing.
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
        )
    finally:
        history.close()


@app.command()
def plan(ctx: typer.Context) -> None:
    """Show what publishing would change in the Feast registry (Feast's plan, changes only)."""
    from content_signals.feature_repo.plan import plan as feast_plan

    changes = feast_plan(config_of(ctx))
    typer.echo("\n".join(changes) if changes else "no changes: the registry matches the signal definitions")


@app.command()
def publish(ctx: typer.Context, day: DateOption = None) -> None:
    """Apply the Feast repo and materialize that date's validated partitions online."""
    from content_signals.definitions import SIGNAL_TABLES
    from content_signals.feature_repo.publishing import check_publishable
    from content_signals.feature_repo.publishing import publish as publish_partitions

    config = config_of(ctx)
    partition = parse_date(day)
    check_publishable(DataLayout(config.data_dir), partition, list(SIGNAL_TABLES))
    publish_partitions(config, partition, progress=say)


@app.command("training-set")
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


@train_app.command("engagement")
def train_engagement(ctx: typer.Context, day: DateOption = None) -> None:
    """Train the engagement model on features as of the end of --date; labels from the next 7 days."""
    from content_signals.jobs.engagement_training import check_trainable
    from content_signals.jobs.engagement_training import train_engagement as train
    from content_signals.spark import spark_session

    config = config_of(ctx)
    partition = parse_date(day)
    check_trainable(DataLayout(config.data_dir), partition)
    train(config, spark_session(config.spark), partition, progress=say)


@train_app.command("safety")
def train_safety(
    ctx: typer.Context,
    corpus: Annotated[
        Path,
        typer.Option(help="Labelled texts in the Davidson format (columns: tweet, class 0/1/2)."),
    ] = DEFAULT_SAFETY_CORPUS,
    limit: Annotated[
        int | None, typer.Option(min=30, help="Train on a stratified sample of this many texts.")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training split.")] = 40,
    review_labels: Annotated[
        bool, typer.Option(help="Add the labels imported with `signals review import` to training.")
    ] = True,
    labels_until: Annotated[
        str | None, typer.Option(help="Only review labels reviewed at or before this ISO-8601 time.")
    ] = None,
) -> None:
    """Train the safety model (hate / offensive / neither): n-gram and sentence-embedding head."""
    from content_signals.models.review import load_review_labels
    from content_signals.models.safety import load_labelled_texts
    from content_signals.models.safety import train_safety as train

    config = config_of(ctx)
    until = parse_timestamp(labels_until, "--labels-until") if labels_until else None
    texts = load_labelled_texts(corpus, limit=limit)
    extra = load_review_labels(DataLayout(config.data_dir), until=until) if review_labels else None
    train(config, texts, progress=say, epochs=epochs, review_labels=extra)


@review_app.command("export")
def review_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Annotation batch to write (.jsonl or .csv).")],
    model: Annotated[str, typer.Option(help="Policy model whose REVIEW band is exported.")] = "safety",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many items, riskiest first.")] = None,
) -> None:
    """Export the catalogue items the model sends to review, with what a reviewer needs."""
    from content_signals.models.review import export_review_batch
    from content_signals.spark import spark_session

    config = config_of(ctx)
    result = export_review_batch(config, spark_session(config.spark), out, model, limit)
    say(
        f"{result.in_review_band:,} of {result.scored:,} items in {model} {result.model_version}'s "
        f"review band written to {result.path} (scores: {result.source})"
    )


@review_app.command("import")
def review_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A labelled annotation batch (.jsonl or .csv).")],
    model: Annotated[str, typer.Option(help="Model the labels train.")] = "safety",
) -> None:
    """Store reviewers' labels as timestamped training labels (all rows checked first)."""
    from content_signals.models.review import import_review_labels

    result = import_review_labels(config_of(ctx), path, model)
    say(
        f"{result.labelled:,} labels stored in {result.path} "
        f"({result.skipped_unlabelled:,} rows without a label skipped)"
    )


@app.command()
def evaluate(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name, e.g. safety.")],
    version: Annotated[str | None, typer.Option(help="Version (default: the newest).")] = None,
) -> None:
    """Write a model card (JSON + HTML with plots) from the version's held-out predictions."""
    from content_signals.models.cards import build_model_card

    layout = DataLayout(config_of(ctx).data_dir)
    build_model_card(layout.models_root, layout.model_cards_root, model, version, progress=say)


@app.command()
def promote(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name, e.g. safety.")],
    version: Annotated[str, typer.Argument(help="Version to promote, e.g. v2.")],
    override: Annotated[bool, typer.Option(help="Promote even if a gate fails (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the gates are overridden (recorded).")] = None,
) -> None:
    """Promote a model version if it is no worse than the promoted one on the configured gates."""
    from content_signals.models.registry import promote as promote_version

    config = config_of(ctx)
    if override and not reason:
        raise SignalsError("--override needs --reason '...'")
    if reason and not override:
        raise SignalsError("--reason is only used with --override")
    model_root = DataLayout(config.data_dir).model_dir(model)
    record = promote_version(model_root, version, config.models.promotion_gates, reason if override else None)
    for check in record.checks:
        say(f"  {check}")
    was = f" (was {record.previous})" if record.previous else ""
    say(f"promoted {model} {version}{was}" + (f", overriding the gates: {reason}" if override else ""))


@app.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="gRPC port (default from config: 9000).")] = None,
    serve_config: Annotated[
        Path | None,
        typer.Option(help="Deployment settings: a serve deploy file (infra/serve/serve_config.yaml)."),
    ] = None,
) -> None:
    """Serve features and scores over gRPC with Ray Serve until interrupted (Ctrl-C drains)."""
    from content_signals.serving import server

    config = config_of(ctx)
    if port is not None:
        config = config.model_copy(update={"serving": config.serving.model_copy(update={"grpc_port": port})})
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    if serve_config is not None and not serve_config.exists():
        raise SignalsError(f"serve config {serve_config} does not exist")
    server.start(config, progress=say, serve_config=serve_config)
    say("press Ctrl-C to stop")
    stop_requested.wait()
    say("draining and stopping")
    server.stop()


@app.command()
def demo(
    ctx: typer.Context,
    fresh: Annotated[bool, typer.Option(help="Delete the data directory first.")] = False,
) -> None:
    """Run the whole pipeline on small synthetic data: generate → job → gate → publish → train →
    serve → query over gRPC → stop."""
    config = config_of(ctx)
    if fresh and config.data_dir.exists():
        shutil.rmtree(config.data_dir)
        config.data_dir.mkdir(parents=True)
    started = time.perf_counter()
    first_day = date(2026, 1, 1)
    feature_day = first_day + timedelta(days=6)
    say("1/7 generate synthetic catalogue")
    ctx.invoke(generate, ctx=ctx, start_date=first_day.isoformat())
    say(f"2/7 train the safety model on {DEMO_SAFETY_TEXTS:,} labelled texts of {DEFAULT_SAFETY_CORPUS}")
    ctx.invoke(train_safety, ctx=ctx, limit=DEMO_SAFETY_TEXTS, epochs=20, review_labels=False)
    for day in (feature_day - timedelta(days=1), feature_day):
        say(f"3/7 signal jobs {day.isoformat()}: compute in Spark, validate with Great Expectations")
        _run_jobs(config, "all", [day])
        say(f"4/7 publish {day.isoformat()} to the online store with Feast")
        ctx.invoke(publish, ctx=ctx, day=day.isoformat())
    say("5/7 train the engagement model on point-in-time features")
    ctx.invoke(train_engagement, ctx=ctx, day=feature_day.isoformat())
    say("6/7 data-quality dashboard and freshness")
    from content_signals.expectations.operations import freshness, report
    from content_signals.partitions import partition_timestamp

    say(f"dashboard: {report(config)}")
    # The demo's dates are in the past: judge freshness as a scheduler would an hour after the day.
    as_of = partition_timestamp(feature_day) + timedelta(hours=1)
    say(f"freshness as of {as_of:%Y-%m-%d %H:%M} UTC:")
    for row in freshness(config, now=as_of):
        say(f"    {row.view}: newest partition {row.latest_partition}, {'STALE' if row.stale else 'fresh'}")
    say("7/7 serve over gRPC and query it")
    _query_server(config)
    say(f"demo finished in {time.perf_counter() - started:.0f}s")


def _query_server(config: PlatformConfig) -> None:
    from content_signals.serving import server
    from content_signals.serving.client import SignalsClient

    def shown(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, list):
            return f"[{len(value)} floats]"
        return str(value)

    # The demo's data has fixed past dates (January 2026), far older than every view's TTL: with
    # TTLs enforced every value would come back OUTSIDE_MAX_AGE. Replay it as of its own time.
    config = config.model_copy(update={"serving": config.serving.model_copy(update={"enforce_ttl": False})})
    running = server.start(config, progress=say)
    try:
        ids = ["c000000", "c000001", "c000002", "no-such-item"]
        # A generous deadline: the demo's first calls also warm up a freshly started local cluster.
        with SignalsClient(running.target, timeout_s=10.0) as client:
            features = client.get_online_features(ids, feature_service="ranking_v1")
            say(f"GetOnlineFeatures {features.feature_service_version or 'ranking_v1'} for {len(ids)} ids:")
            for row in features.to_dicts():
                content_id = row.pop("content_id")
                present = ", ".join(
                    f"{name}={shown(value)}" for name, value in row.items() if value is not None
                )
                typer.echo(f"    {content_id}: {present or 'NOT_FOUND'}")
            safety = client.get_online_features(
                ids, feature_refs=["content_safety:unsafe_score", "content_safety:safety_decision"]
            )
            say("GetOnlineFeatures content_safety (the safety model's daily scores):")
            for row in safety.to_dicts():
                score, decision = row["content_safety:unsafe_score"], row["content_safety:safety_decision"]
                shown_row = "NOT_FOUND" if score is None else f"unsafe_score={score:.3f}, decision={decision}"
                typer.echo(f"    {row['content_id']}: {shown_row}")
            scores = client.score("engagement", ids)
            say(f"Score with model {scores.model} {scores.model_version}:")
            for item in scores.to_dicts():
                decision = f", {item['decision']}" if item["decision"] else ""
                found = "" if item["found"] else ", not found: imputed only"
                typer.echo(
                    f"    {item['content_id']}: {item['score']:.3f}"
                    f" (imputed features: {item['missing_features']}{decision}{found})"
                )
    finally:
        server.stop()
        say("server stopped")


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
