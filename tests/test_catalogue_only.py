"""A catalogue-only deployment: no listening events (and perhaps no audio features) is a deployment
to run, publish and serve, not a missing file.

On a hand-built catalogue written as Parquet: the jobs that can run publish, the others are reported
as not run (and so are their readers), a job asked for by name that cannot run fails in one line,
creator_profile keeps its catalogue signals with a null engagement signal that the gate accepts,
a date publishes table by table, and serving answers NOT_FOUND for the unpublished views only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from content_signals_client import SignalsClient
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from content_signals.config import PlatformConfig
from content_signals.definitions import (
    CONTENT_AUDIO,
    CONTENT_ENGAGEMENT,
    CONTENT_METADATA,
    CONTENT_SAFETY,
    CREATOR_PROFILE,
    TEXT_SAFETY_LEXICON,
)
from content_signals.errors import SignalsError
from content_signals.expectations.profile import profile
from content_signals.feature_repo.publishing import publish
from content_signals.jobs import creator_profile, runner
from content_signals.jobs.inputs import SameDayPartition
from content_signals.jobs.runner import JOBS, BatchReport, NotRun, plan_batch, run_many
from content_signals.jobs.signal_job import SignalJob
from content_signals.layout import DataLayout
from content_signals.partitions import output_schema, partition_timestamp
from content_signals.publish_log import publish_log
from content_signals.synthetic import AUDIO_SCHEMA, CONTENT_SCHEMA, EVENT_SCHEMA
from tests import rows
from tests.local_server import ServerThread

DAY = date(2026, 3, 10)
CREATED = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
SIGNALS = str(Path(sys.executable).parent / "signals")
# Every job but content_safety, which needs a trained model (the slow test below brings one).
WITHOUT_MODEL = ["content_metadata", "content_engagement", "content_audio", "creator_profile",
                 "text_safety_lexicon", "content_embedding"]  # fmt: skip


def _item(
    content_id: str,
    creator_id: str,
    title: str | None,
    released: date | None,
    explicit: bool | None = False,
    content_type: str = "track",
) -> dict[str, Any]:
    return {
        "content_id": content_id, "content_type": content_type, "title": title,
        "description": f"a {content_type} by {creator_id or 'nobody'}", "creator_id": creator_id,
        "duration_ms": 200_000, "explicit": explicit, "release_date": released, "language": "en",
    }  # fmt: skip


ITEMS = [
    _item("a1", "cr1", "Chill Beats #1", DAY, explicit=True),  # released on the day
    _item("a2", "cr1", "chill  beats #2", DAY - timedelta(days=3)),  # inside 7 days
    _item("a3", "cr1", "Other Song", DAY - timedelta(days=7), explicit=None, content_type="episode"),
    _item("a4", "cr1", "Future", DAY + timedelta(days=5), explicit=True),  # not released yet
    _item("a5", "cr1", None, None, explicit=True, content_type="audiobook"),  # release date unknown
    _item("b1", "cr2", "Solo", DAY - timedelta(days=1), explicit=True),
    _item("b2", "cr2", "solo!", DAY - timedelta(days=30)),
    _item("x1", "", "Nobody's", DAY - timedelta(days=2)),  # no creator: in no profile
]
# cr1 counts a1, a2, a3, a5: 4 items, 1 released on the day, 2 in 7 days (a3 is 7 days old),
# explicit 2 of 4 (a missing flag is not explicit), titles "chill beats" twice and "other song"
# (a5 has none): 1 - 2/3 repeat. cr2: 2 items, 1 in 7 days, 1 of 2 explicit, "solo" twice: 1 - 1/2.
EXPECTED_PROFILES = [
    ("cr1", 4, 1, 2, 0.5, 1 - 2 / 3),
    ("cr2", 2, 0, 1, 0.5, 0.5),
]


def _audio(content_id: str, speechiness: float) -> dict[str, Any]:
    return {
        "content_id": content_id, "loudness_db": -8.0, "energy": 0.7, "valence": 0.4,
        "tempo_bpm": 120.0, "speechiness": speechiness, "danceability": 0.5,
        "acousticness": 0.2, "instrumentalness": 0.1, "liveness": 0.1,
    }  # fmt: skip


def write_deployment(
    root: Path, audio: Sequence[dict[str, Any]] | None = None, event_days: Sequence[date] = ()
) -> DataLayout:
    """The catalogue above, audio descriptors if given, and one event on each of ``event_days``."""
    layout = DataLayout(root)
    layout.catalog_dir.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(ITEMS, schema=CONTENT_SCHEMA), layout.content_path)
    if audio is not None:
        pq.write_table(pa.Table.from_pylist(list(audio), schema=AUDIO_SCHEMA), layout.audio_features_path)
    for day in event_days:
        event = {"user_id": "u1", "content_id": "a1", "ms_played": 100_000, "saved": False,
                 "event_timestamp": datetime(day.year, day.month, day.day, 12, tzinfo=UTC)}  # fmt: skip
        layout.events_partition(day).mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pylist([event], schema=EVENT_SCHEMA),
            layout.events_partition(day) / "part-0.parquet",
        )
    return layout


def no_events(layout: DataLayout) -> str:
    found = f"listening_events: auto found none under {layout.events_dir}"
    return f"this deployment has no listening events ({found})"


def no_audio(layout: DataLayout) -> str:
    return f"this catalogue has no audio features (no {layout.audio_features_path})"


# --- which jobs run -------------------------------------------------------------------------------


def test_a_batch_of_every_job_leaves_out_what_the_deployment_lacks_and_its_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = write_deployment(tmp_path)  # no events, no audio features
    # A job reading content_engagement's partition of the day, as content_safety reads embeddings.
    rollup = SignalJob(
        replace(CONTENT_ENGAGEMENT, name="engagement_rollup"),
        inputs=(SameDayPartition(CONTENT_ENGAGEMENT.name, name="engagement"),),
        transform=lambda engagement: engagement,
    )
    monkeypatch.setitem(runner.JOBS, "engagement_rollup", rollup)
    days = [DAY + timedelta(days=1), DAY]
    plan = plan_batch(layout, [*WITHOUT_MODEL, "engagement_rollup"], days, run_what_can_run=True)
    assert plan.days == sorted(days)
    assert plan.not_run == [
        NotRun(job, day, reason)
        for day in sorted(days)
        for job, reason in [
            ("content_engagement", no_events(layout)),
            ("content_audio", no_audio(layout)),
            ("engagement_rollup", f"it reads content_engagement, which is not run: {no_events(layout)}"),
        ]
    ]
    assert plan.not_run[0].describe() == f"content_engagement {DAY.isoformat()}: not run: {no_events(layout)}"
    assert plan.left_out("creator_profile", DAY) is None  # its events are optional

    # Asked for by name (or in a batch that is not `all`), a job that cannot run is an error.
    with pytest.raises(
        SignalsError, match=f"^content_engagement cannot run: {re.escape(no_events(layout))}$"
    ):
        plan_batch(layout, WITHOUT_MODEL, [DAY])
    with pytest.raises(
        SignalsError, match=r"^content_audio cannot run: this catalogue has no audio features"
    ):
        plan_batch(layout, ["content_audio", "creator_profile"], [DAY])
    # Once there is audio, content_audio runs.
    pq.write_table(pa.Table.from_pylist([_audio("a1", 0.1)], schema=AUDIO_SCHEMA), layout.audio_features_path)
    assert [n.job for n in plan_batch(layout, WITHOUT_MODEL, [DAY], run_what_can_run=True).not_run] == [
        "content_engagement"
    ]


def test_events_that_should_be_there_are_still_required(tmp_path: Path) -> None:
    # Events exist, but not for the day asked: a gap to report, not a catalogue-only deployment.
    layout = write_deployment(tmp_path / "gap", event_days=[DAY - timedelta(days=1)])
    for names in (WITHOUT_MODEL, ["creator_profile"]):
        with pytest.raises(SignalsError, match=f"missing input: no listening events for {DAY.isoformat()}"):
            plan_batch(layout, names, [DAY], run_what_can_run=True)
    # listening_events: none ignores them: engagement is not run, creator_profile runs without.
    plan = plan_batch(layout, WITHOUT_MODEL, [DAY], "none", run_what_can_run=True)
    assert [(n.job, n.reason) for n in plan.not_run] == [
        ("content_engagement", "this deployment has no listening events (listening_events: none)"),
        ("content_audio", no_audio(layout)),
    ]
    # listening_events: required has events before the first one arrives.
    empty = write_deployment(tmp_path / "required")
    with pytest.raises(SignalsError, match=f"missing input: no listening events for {DAY.isoformat()}"):
        plan_batch(empty, ["creator_profile"], [DAY], "required", run_what_can_run=True)


def _signals(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIGNALS, *args], capture_output=True, text=True, timeout=300, check=False)


def test_a_job_named_alone_that_cannot_run_exits_non_zero_in_one_line(tmp_path: Path) -> None:
    layout = write_deployment(tmp_path / "data")
    data = ["--data-dir", str(layout.root)]
    day = ["--date", DAY.isoformat()]
    result = _signals(*data, "jobs", "run", "content_engagement", *day)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: content_engagement cannot run: {no_events(layout)}"
    result = _signals(
        *data, "jobs", "backfill", "content_audio", "--start", "2026-03-09", "--end", "2026-03-10"
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: content_audio cannot run: {no_audio(layout)}"
    config = tmp_path / "required.yaml"
    config.write_text("listening_events: required\n")
    result = _signals("--config", str(config), *data, "jobs", "run", "creator_profile", *day)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: missing input: no listening events for {DAY.isoformat()} at {layout.events_partition(DAY)}"
    )
    assert not (layout.root / "signals").exists()


# --- creator_profile without events ---------------------------------------------------------------


def test_creator_profile_without_events_has_its_catalogue_signals_and_a_null_engagement_signal(  # type: ignore[no-untyped-def]
    spark, gate
) -> None:
    content = spark.createDataFrame(ITEMS, rows.CONTENT_SCHEMA)
    stamp = partition_timestamp(DAY)
    expected = spark.createDataFrame(
        [(creator, stamp, CREATED, *values, None) for creator, *values in EXPECTED_PROFILES],
        output_schema(CREATOR_PROFILE),
    )
    partition = creator_profile.JOB.compute(DAY, CREATED, content=content, events=None)
    assertDataFrameEqual(partition, expected, checkRowOrder=False, rtol=1e-9)

    # The gate passes an all-null engagement signal: on the first partition (no baseline) ...
    first = gate.validate(partition, CREATOR_PROFILE)
    assert first.success and not first.warnings, first.summary()
    # ... and on a later one, whose null-rate check compares with the all-null one before it.
    baseline = profile(partition, CREATOR_PROFILE, DAY)
    assert baseline.columns["mean_item_plays_7d"].null_rate == 1.0
    later = creator_profile.JOB.compute(DAY + timedelta(days=1), CREATED, content=content, events=None)
    second = gate.validate(later, CREATOR_PROFILE, baseline)
    assert second.success and not second.warnings, second.summary()
    null_rate_checks = [
        o for o in second.outcomes
        if o.column == "mean_item_plays_7d" and o.expectation.endswith("non_null_values_to_be_between")
    ]  # fmt: skip
    assert [o.success for o in null_rate_checks] == [True]

    # A deployment with events counts an item without plays as 0 plays, as before.
    events = spark.createDataFrame([], rows.EVENT_SCHEMA)
    with_events = creator_profile.JOB.compute(DAY, CREATED, content=content, events=events)
    assert sorted(r["mean_item_plays_7d"] for r in with_events.collect()) == [0.0, 0.0]


# --- a catalogue-only day: run, publish, serve ----------------------------------------------------


@dataclass(frozen=True)
class CatalogueOnly:
    layout: DataLayout
    config: PlatformConfig
    report: BatchReport
    progress: list[str]


@pytest.fixture(scope="module")
def catalogue_only(spark, gate, platform_config, tmp_path_factory) -> CatalogueOnly:  # type: ignore[no-untyped-def]
    """The day's batch without events; b1's audio descriptors are broken (speechiness 3), so
    content_audio is quarantined."""
    layout = write_deployment(
        tmp_path_factory.mktemp("catalogue-only"),
        audio=[_audio("a1", 0.05), _audio("a2", 0.1), _audio("b1", 3.0), _audio("b2", 0.2)],
    )
    names = [n for n in WITHOUT_MODEL if n != "content_embedding"]  # the text encoder is not needed here
    progress: list[str] = []
    report = run_many(spark, layout, names, [DAY], gate, progress.append, run_what_can_run=True)
    config = platform_config.model_copy(update={"data_dir": layout.root})
    return CatalogueOnly(layout, config, report, progress)


def test_a_batch_without_events_publishes_what_can_run_and_reports_the_rest(spark, catalogue_only) -> None:  # type: ignore[no-untyped-def]
    layout, report = catalogue_only.layout, catalogue_only.report
    assert {run.job for run in report.published} == {
        "content_metadata",
        "creator_profile",
        "text_safety_lexicon",
    }
    [quarantined] = report.quarantined
    assert quarantined.startswith(f"content_audio {DAY.isoformat()}: ")
    assert report.not_run == [NotRun("content_engagement", DAY, no_events(layout))]
    assert report.summary() == "3 partitions published, 1 quarantined, 1 not run"
    assert any(f"content_engagement {DAY.isoformat()}: not run: {no_events(layout)}" in line
               for line in catalogue_only.progress)  # fmt: skip
    assert not layout.signal_table_dir("content_engagement").exists()

    written = spark.read.parquet(str(layout.signal_partition("creator_profile", DAY)))
    assert sorted((r["creator_id"], r["catalogue_size"]) for r in written.collect()) == [
        ("cr1", 4),
        ("cr2", 2),
    ]
    assert written.where(F.col("mean_item_plays_7d").isNotNull()).count() == 0


def test_a_date_publishes_table_by_table_and_names_what_it_could_not(  # type: ignore[no-untyped-def]
    catalogue_only, tmp_path: Path
) -> None:
    # On a copy: the serving test publishes the fixture's own store.
    for folder in ("raw", "signals", "quarantine"):
        shutil.copytree(catalogue_only.layout.root / folder, tmp_path / folder)
    config, layout = catalogue_only.config.model_copy(update={"data_dir": tmp_path}), DataLayout(tmp_path)
    day = DAY.isoformat()

    # Naming a table without a validated partition fails before anything is written.
    with pytest.raises(SignalsError, match=f"^no validated content_engagement partition for {day}: run "):
        publish(config, DAY, tables=["content_engagement"])
    with pytest.raises(
        SignalsError, match=f"^content_audio {day} failed its quality gate and is quarantined"
    ):
        publish(config, DAY, tables=["creator_profile", "content_audio"])
    assert not layout.publish_log_path.exists()

    lines: list[str] = []
    [only] = publish(config, DAY, tables=["creator_profile"], progress=lines.append)
    assert (only.table, only.rows) == ("creator_profile", 2)
    assert lines[-1] == f"{day}: 1 of 1 tables published"
    lines.clear()
    records = publish(config, DAY, progress=lines.append)
    assert [r.table for r in records] == ["content_metadata", "text_safety_lexicon"]
    assert f"creator_profile {day}: already published unchanged" in "\n".join(lines)
    reported = [line for line in lines if ": not published: " in line]
    quarantine = layout.quarantine_dir("content_audio", DAY)
    assert reported == [
        f"content_engagement {day}: not published: not computed",
        f"content_audio {day}: not published: failed its quality gate and is quarantined "
        f"({next(quarantine.iterdir())})",
        f"content_embedding {day}: not published: not computed",
        f"content_duplicates {day}: not published: not computed",
        f"content_safety {day}: not published: not computed",
    ]
    assert lines[-1] == f"{day}: 3 of 8 tables published, 5 not published"

    # Idempotent, with one log line per partition written.
    assert publish(config, DAY) == []
    assert [r.table for r in publish_log(layout)] == [
        "creator_profile",
        "content_metadata",
        "text_safety_lexicon",
    ]
    # The command line: --table is repeatable, and answers for exactly those tables.
    result = _signals("--data-dir", str(tmp_path), "publish", "--date", day,
                      "--table", "text_safety_lexicon", "--table", "content_metadata")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "text_safety_lexicon 2026-03-10: already published unchanged" in result.stdout
    assert "content_metadata 2026-03-10: already published unchanged" in result.stdout
    assert f"{day}: 2 of 2 tables published" in result.stdout
    result = _signals("--data-dir", str(tmp_path), "publish", "--date", day)
    assert result.returncode == 0, result.stderr
    assert f"content_engagement {day}: not published: not computed" in result.stdout


@pytest.fixture(scope="module")
def served_catalogue(catalogue_only: CatalogueOnly) -> Iterator[str]:
    publish(catalogue_only.config, DAY)
    server = ServerThread(catalogue_only.config, models={})
    yield server.target
    server.stop()


def _statuses(response: Any, table: str, signal: str) -> list[int]:
    return list(response.column(f"{table}:{signal}").statuses)


def test_a_partly_published_feature_service_serves_not_found_for_the_unpublished_views_only(
    served_catalogue: str,
) -> None:
    present, null, not_found = (
        pb.FEATURE_STATUS_PRESENT,
        pb.FEATURE_STATUS_NULL_VALUE,
        pb.FEATURE_STATUS_NOT_FOUND,
    )
    ids = ["a1", "b1", "no-such-item"]
    with SignalsClient(served_catalogue, timeout_s=30.0) as client:
        ranking = client.get_online_features(ids, feature_service="ranking_v1")
        safety = client.get_online_features(ids, feature_service="safety_v1")
    assert ranking.content_ids == ids
    for table in (CONTENT_ENGAGEMENT, CONTENT_AUDIO):  # not computed; quarantined
        for signal in table.signal_names:
            assert _statuses(ranking, table.name, signal) == [not_found] * 3, signal
    for signal in ("title_length", "item_creator_id", "is_explicit", "days_since_release"):
        assert _statuses(ranking, CONTENT_METADATA.name, signal) == [present, present, not_found], signal
    for signal in CREATOR_PROFILE.signal_names:  # found through each item's creator
        expected = [null, null] if signal == "mean_item_plays_7d" else [present, present]
        assert _statuses(ranking, CREATOR_PROFILE.name, signal) == [*expected, not_found], signal
    assert ranking.value("a1", "creator_profile:catalogue_size") == 4
    assert ranking.value("b1", "creator_profile:duplicate_title_rate") == pytest.approx(0.5)
    assert ranking.value("a1", "creator_profile:mean_item_plays_7d") is None
    assert ranking.value("a1", "content_engagement:plays_7d") is None
    for signal in TEXT_SAFETY_LEXICON.signal_names:
        assert _statuses(safety, TEXT_SAFETY_LEXICON.name, signal) == [present, present, not_found], signal


@pytest.mark.slow
def test_jobs_run_all_publish_and_serve_a_catalogue_only_deployment(  # type: ignore[no-untyped-def]
    pipeline, spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signals jobs run all` → `signals publish` → gRPC, with no events and no audio features: the
    safety model (the pipeline's, trained on labelled texts, not on this catalogue) scores it."""
    from content_signals.cli.jobs import run_jobs
    from content_signals.cli.publish import publish_day

    layout = write_deployment(tmp_path)
    shutil.copytree(pipeline.layout.model_dir("safety"), layout.model_dir("safety"))
    quality = pipeline.config.quality.model_copy(update={"data_docs": False})
    config = pipeline.config.model_copy(update={"data_dir": tmp_path, "quality": quality})

    run_jobs(config, "all", [DAY])  # exits normally: nothing was quarantined
    out = capsys.readouterr().out
    assert "6 partitions published, 0 quarantined, 2 not run" in out
    assert f"content_engagement {DAY.isoformat()}: not run: {no_events(layout)}" in out
    assert f"content_audio {DAY.isoformat()}: not run: this catalogue has no audio features" in out
    published = {path.parent.name for path in (tmp_path / "signals").glob("*/date=*")}
    assert published == set(JOBS) - {"content_engagement", "content_audio"}

    publish_day(config, DAY)
    assert f"{DAY.isoformat()}: 6 of 8 tables published, 2 not published" in capsys.readouterr().out
    server = ServerThread(config)  # serves the safety model found under the data directory
    try:
        with SignalsClient(server.target, timeout_s=30.0) as client:
            safety = client.get_online_features(["a1", "b1"], feature_service="safety_v3")
            score = client.score("safety", ["upload-1"], request_inputs={"text": ["chill beats to study to"]})
    finally:
        server.stop()
    for signal in CONTENT_SAFETY.signals:
        # A nullable signal (the deciding category of an allowed item) may be stored as null.
        allowed = {pb.FEATURE_STATUS_PRESENT} | ({pb.FEATURE_STATUS_NULL_VALUE} if signal.nullable else set())
        assert set(_statuses(safety, CONTENT_SAFETY.name, signal.name)) <= allowed, signal.name
    assert safety.value("a1", "content_safety:safety_decision") in {"allow", "review", "block"}
    [row] = score.to_dicts()
    assert row["found"] and 0.0 <= row["score"] <= 1.0 and row["decision"] in {"ALLOW", "REVIEW", "BLOCK"}


def test_views_a_deployment_cannot_produce_are_not_stale(tmp_path: Path) -> None:
    from content_signals.config import load_config
    from content_signals.expectations.operations import freshness
    from content_signals.jobs.inputs import Deployment
    from content_signals.jobs.runner import tables_not_produced

    layout = DataLayout(tmp_path)
    gaps = tables_not_produced(Deployment(layout))
    assert sorted(gaps) == ["content_audio", "content_engagement"]
    assert "no listening events" in gaps["content_engagement"]
    assert "no audio features" in gaps["content_audio"]
    (layout.events_dir / "date=2026-01-01").mkdir(parents=True)
    assert sorted(tables_not_produced(Deployment(layout))) == ["content_audio"]
    without_events = tables_not_produced(Deployment(layout, "none"))
    assert sorted(without_events) == ["content_audio", "content_engagement"]

    config = load_config(overrides={"data_dir": str(tmp_path)})
    rows = {r.view: r for r in freshness(config, not_produced=gaps)}
    assert rows["content_engagement"].stale is False and rows["content_engagement"].not_produced
    assert rows["content_metadata"].stale is True  # never published, and it should be
