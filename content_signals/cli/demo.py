"""``signals demo``: the whole pipeline on small synthetic data, step by step, as a user would run
it with the other commands: generate → jobs and gate → publish → train → serve → query → stop.

The steps call the same functions as the commands they stand for (:mod:`content_signals.cli.catalog`,
:mod:`~content_signals.cli.jobs`, :mod:`~content_signals.cli.publish`,
:mod:`~content_signals.cli.models`), so the demo prints what those commands print.
"""

from __future__ import annotations

import shutil
import time
from datetime import date, timedelta
from typing import Annotated, Any

import typer

from content_signals.cli.catalog import generate_catalogue
from content_signals.cli.common import config_of, say
from content_signals.cli.jobs import run_jobs
from content_signals.cli.models import DEFAULT_SAFETY_CORPUS, train_engagement_model, train_safety_model
from content_signals.cli.publish import publish_day
from content_signals.config import PlatformConfig

# The synthetic data's first day; the generator's other settings are its defaults (14 days).
DEMO_FIRST_DAY = date(2026, 1, 1)
# The engagement model trains on features as of this day: the 7 days after it, which label them,
# are inside the generated 14.
DEMO_FEATURE_DAY = DEMO_FIRST_DAY + timedelta(days=6)
# The demo trains on a stratified sample: the whole corpus takes minutes to encode on 2 CPU cores.
DEMO_SAFETY_TEXTS = 2_000
DEMO_SAFETY_EPOCHS = 20
# Three catalogue items and one unknown id, to show what serving answers for each.
DEMO_QUERY_IDS = ["c000000", "c000001", "c000002", "no-such-item"]


def demo(
    ctx: typer.Context,
    fresh: Annotated[bool, typer.Option(help="Delete the data directory first.")] = False,
) -> None:
    """Run the whole pipeline on small synthetic data: generate → job → gate → publish → train →
    serve → query over gRPC → stop."""
    run_demo(config_of(ctx), fresh)


def run_demo(config: PlatformConfig, fresh: bool) -> None:
    """The demo's seven steps, in order; ``fresh`` starts from an empty data directory."""
    from content_signals.synthetic import GenerationSpec

    if fresh and config.data_dir.exists():
        shutil.rmtree(config.data_dir)
        config.data_dir.mkdir(parents=True)
    started = time.perf_counter()
    say("1/7 generate synthetic catalogue")
    generate_catalogue(config, GenerationSpec(start_date=DEMO_FIRST_DAY))
    say(f"2/7 train the safety model on {DEMO_SAFETY_TEXTS:,} labelled texts of {DEFAULT_SAFETY_CORPUS}")
    train_safety_model(
        config, DEFAULT_SAFETY_CORPUS, limit=DEMO_SAFETY_TEXTS, epochs=DEMO_SAFETY_EPOCHS, review_labels=False
    )
    for day in (DEMO_FEATURE_DAY - timedelta(days=1), DEMO_FEATURE_DAY):
        say(f"3/7 signal jobs {day.isoformat()}: compute in Spark, validate with Great Expectations")
        run_jobs(config, "all", [day])
        say(f"4/7 publish {day.isoformat()} to the online store with Feast")
        publish_day(config, day)
    say("5/7 train the engagement model on point-in-time features")
    train_engagement_model(config, DEMO_FEATURE_DAY)
    say("6/7 data-quality dashboard and freshness")
    show_data_quality(config, DEMO_FEATURE_DAY)
    say("7/7 serve over gRPC and query it")
    query_server(config)
    say(f"demo finished in {time.perf_counter() - started:.0f}s")


def show_data_quality(config: PlatformConfig, day: date) -> None:
    """Write the data-quality dashboard and show each feature view's freshness."""
    from content_signals.expectations.operations import freshness, report
    from content_signals.partitions import partition_timestamp

    say(f"dashboard: {report(config)}")
    # The demo's dates are in the past: judge freshness as a scheduler would an hour after the day.
    as_of = partition_timestamp(day) + timedelta(hours=1)
    say(f"freshness as of {as_of:%Y-%m-%d %H:%M} UTC:")
    for row in freshness(config, now=as_of):
        say(f"    {row.view}: newest partition {row.latest_partition}, {'STALE' if row.stale else 'fresh'}")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return f"[{len(value)} floats]"
    return str(value)


def query_server(config: PlatformConfig) -> None:
    """Start the server, ask it for features, the safety scores, engagement scores and similar
    items, and stop it."""
    from content_signals_client import SignalsClient

    from content_signals.serving import server

    # The demo's data has fixed past dates (January 2026), far older than every view's TTL: with
    # TTLs enforced every value would come back OUTSIDE_MAX_AGE. Replay it as of its own time.
    config = config.model_copy(update={"serving": config.serving.model_copy(update={"enforce_ttl": False})})
    running = server.start(config, progress=say)
    try:
        ids = DEMO_QUERY_IDS
        # A generous deadline: the demo's first calls also warm up a freshly started local cluster.
        with SignalsClient(running.target, timeout_s=10.0) as client:
            features = client.get_online_features(ids, feature_service="ranking_v1")
            say(f"GetOnlineFeatures {features.feature_service_version or 'ranking_v1'} for {len(ids)} ids:")
            for row in features.to_dicts():
                content_id = row.pop("content_id")
                present = ", ".join(
                    f"{name}={_shown(value)}" for name, value in row.items() if value is not None
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
                if item["score"] is None:  # nothing stored about it: no score is made up
                    typer.echo(f"    {item['content_id']}: not found, not scored")
                    continue
                decision = f", {item['decision']}" if item["decision"] else ""
                typer.echo(
                    f"    {item['content_id']}: {item['score']:.3f}"
                    f" (imputed features: {item['missing_features']}{decision})"
                )
            similar = client.similar_content(ids[0], k=3)
            say(f"SimilarContent for {ids[0]} (vector index {similar.index_version}):")
            for neighbour in similar.items:
                typer.echo(
                    f"    {neighbour.content_id}: similarity {neighbour.similarity:.3f} "
                    f"({neighbour.content_type}, {neighbour.creator_id})"
                )
    finally:
        server.stop()
        say("server stopped")
