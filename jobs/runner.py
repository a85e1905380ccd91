"""Run a signal job for one date: check and read its inputs, load its model, compute, gate, then
publish or quarantine.

Jobs only declare what they read (:class:`~content_signals.jobs.signal_job.SignalJob`); every
read, model load and write happens here. The DataFrame is persisted once so that validation and
the write read the same computed rows (and the job's inputs are scanned once).

A batch of every job (``jobs run all``) runs what the deployment can run: a catalogue-only
deployment has no listening events, an imported catalogue may have no audio features, and the jobs
that need them are reported as not run (:class:`NotRun`) rather than failing the batch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from content_signals.config import ListeningEventsSetting, ModelsConfig, PlatformConfig, SimilarityConfig
from content_signals.definitions import SignalTable
from content_signals.errors import GateFailed, SignalsError
from content_signals.expectations.gate import GateResult, QualityGate, quality_gate
from content_signals.expectations.history import ValidationHistory, open_history
from content_signals.expectations.profile import baseline_profile, profile
from content_signals.jobs import (
    content_audio,
    content_duplicates,
    content_embedding,
    content_engagement,
    content_metadata,
    content_safety,
    creator_profile,
    text_safety_lexicon,
)
from content_signals.jobs.inputs import Deployment, SameDayPartition
from content_signals.jobs.signal_job import Published, SignalJob
from content_signals.layout import DataLayout
from content_signals.partitions import publish_partition, quarantine_partition

# In dependency order: a job comes after every table it reads.
JOBS: dict[str, SignalJob] = {
    module.JOB.table.name: module.JOB
    for module in (
        content_metadata,
        content_engagement,
        content_audio,
        creator_profile,
        text_safety_lexicon,
        content_embedding,
        content_duplicates,
        content_safety,
    )
}


@dataclass(frozen=True)
class JobRun:
    job: str
    day: date
    run_id: str
    rows: int
    gate: GateResult
    path: Path
    seconds: float


def get_job(name: str) -> SignalJob:
    if name not in JOBS:
        raise SignalsError(f"unknown job {name!r}; known jobs: all, {', '.join(sorted(JOBS))}")
    return JOBS[name]


def job_names(name: str) -> list[str]:
    """``all`` -> every job, in definition order; otherwise the one named (validated)."""
    return list(JOBS) if name == "all" else [get_job(name).table.name]


@dataclass(frozen=True)
class NotRun:
    """A job and day that a batch leaves out because the deployment cannot run that job, and why."""

    job: str
    day: date
    reason: str

    def describe(self) -> str:
        return f"{self.job} {self.day.isoformat()}: not run: {self.reason}"


def missing_from_deployment(job: SignalJob, deployment: Deployment) -> str | None:
    """Why ``deployment`` cannot run ``job`` at all (it has none of a kind of data the job needs),
    or ``None`` when it can. An ``optional`` input it lacks does not count: the job gets ``None``."""
    for source in job.inputs:
        reason = None if source.optional else source.absent(deployment)
        if reason is not None:
            return reason
    return None


def check_inputs(
    job: SignalJob,
    layout: DataLayout,
    day: date,
    batch: Collection[str] = (),
    listening_events: ListeningEventsSetting = "auto",
) -> None:
    """Raise on the first missing input of ``job`` on ``day`` (cheap: no engine needed).

    An input the deployment has none of at all is an error here too: a job asked for by name must
    run (``jobs run all`` leaves such jobs out first, see :func:`plan_batch`). An upstream table
    that runs in the same ``batch`` is produced before it is read; one that does not must already
    have a published partition for the day.
    """
    deployment = Deployment(layout, listening_events)
    name = job.table.name
    for source in job.inputs:
        if isinstance(source, SameDayPartition):  # upstream tables: checked below, against the batch
            continue
        reason = source.absent(deployment)
        if reason is None:
            source.locate(layout, day)
        elif not source.optional:
            raise SignalsError(f"{name} cannot run: {reason}")
    if job.model is not None:
        job.model.check(layout)
    for upstream in job.upstream:
        if upstream not in batch and not layout.signal_partition(upstream, day).exists():
            raise SignalsError(
                f"missing input: {name} {day.isoformat()} reads the {upstream} partition of the "
                f"same day, which is not published (run `signals jobs run {upstream} "
                f"--date {day.isoformat()}` first, or both together)"
            )


@dataclass(frozen=True)
class BatchPlan:
    """A checked batch: its days (oldest first), its jobs (in dependency order), and the jobs and
    days it leaves out. Everything else has every input it reads."""

    days: list[date]
    jobs: list[str]
    not_run: list[NotRun]

    def left_out(self, name: str, day: date) -> NotRun | None:
        return next((n for n in self.not_run if (n.job, n.day) == (name, day)), None)


def tables_not_produced(deployment: Deployment, names: list[str] | None = None) -> dict[str, str]:
    """The tables of ``names`` (default: every job's) this deployment cannot produce at all, each
    with the reason: a job missing a kind of data (:func:`missing_from_deployment`), or reading
    the table of such a job. ``jobs run all`` leaves them out; the freshness check does not count
    them as stale."""
    ordered = [n for n in JOBS if names is None or n in names]
    cannot_run = {
        name: reason
        for name in ordered
        if (reason := missing_from_deployment(JOBS[name], deployment)) is not None
    }
    for name in ordered:  # in dependency order, so a reader of a left-out table follows its writer
        blocked = [u for u in JOBS[name].upstream if u in cannot_run]
        if blocked and name not in cannot_run:
            cannot_run[name] = f"it reads {blocked[0]}, which is not run: {cannot_run[blocked[0]]}"
    return cannot_run


def plan_batch(
    layout: DataLayout,
    names: list[str],
    days: list[date],
    listening_events: ListeningEventsSetting = "auto",
    run_what_can_run: bool = False,
) -> BatchPlan:
    """Check every input of every job on every day before anything runs; raise on the first missing.

    ``run_what_can_run`` (``jobs run all``): a job the deployment cannot run at all (no listening
    events, no audio features: :func:`missing_from_deployment`) is left out with the reason instead,
    and so is every job that reads its table. Without it (jobs asked for by name) that is an error.
    Data the deployment has but lacks for a day (one day's events) is an error either way.
    """
    requested = {get_job(n).table.name for n in names}  # an unknown name raises here
    ordered = [n for n in JOBS if n in requested]  # dependency order, whatever order they were asked in
    cannot_run = (
        tables_not_produced(Deployment(layout, listening_events), ordered) if run_what_can_run else {}
    )
    runnable = [n for n in ordered if n not in cannot_run]
    for day in sorted(days):
        for name in runnable:
            check_inputs(JOBS[name], layout, day, runnable, listening_events)
    not_run = [NotRun(n, day, cannot_run[n]) for day in sorted(days) for n in ordered if n in cannot_run]
    return BatchPlan(sorted(days), ordered, not_run)


def check_all_inputs(
    layout: DataLayout,
    names: list[str],
    days: list[date],
    listening_events: ListeningEventsSetting = "auto",
) -> None:
    """Raise on the first missing input of any job on any day (see :func:`check_inputs`)."""
    plan_batch(layout, names, days, listening_events)


def build_partition(
    spark: SparkSession,
    layout: DataLayout,
    job: SignalJob,
    day: date,
    created_at: datetime,
    table: SignalTable | None = None,
    models: ModelsConfig | None = None,
    listening_events: ListeningEventsSetting = "auto",
    similarity: SimilarityConfig | None = None,
) -> DataFrame:
    """The partition of ``table`` (by default the job's own) for ``day``: every input read (``None``
    for an optional one the deployment has none of), the job's model (if it runs one) loaded from
    ``models``, then its transform and the signals.

    Not persisted, validated nor written: :func:`run_job` does that.
    """
    table = table or job.table
    deployment = Deployment(layout, listening_events)
    values: dict[str, object] = {}
    for source in job.inputs:
        lacking = source.optional and source.absent(deployment) is not None
        values[source.name] = None if lacking else source.read(spark, layout, day)
    if job.model is not None:
        values[job.model.name] = job.model.load(
            spark,
            layout,
            models or ModelsConfig(),
            table,
            day=day,
            similarity=similarity or SimilarityConfig(),
        )
    return job.compute(day, created_at, table, **values)


def date_range(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last`` inclusive."""
    if last < first:
        raise SignalsError(f"--end {last.isoformat()} is before --start {first.isoformat()}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class BatchReport:
    published: list[JobRun]
    quarantined: list[str]
    # Jobs the deployment cannot run (no listening events, no audio features), and their readers.
    not_run: list[NotRun] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{len(self.published)} partitions published, {len(self.quarantined)} quarantined"
        return text + (f", {len(self.not_run)} not run" if self.not_run else "")


def run_many(
    spark: SparkSession,
    layout: DataLayout,
    names: list[str],
    days: list[date],
    gate: QualityGate,
    progress: Callable[[str], None] = lambda _line: None,
    history: ValidationHistory | None = None,
    models: ModelsConfig | None = None,
    listening_events: ListeningEventsSetting = "auto",
    run_what_can_run: bool = False,
    similarity: SimilarityConfig | None = None,
) -> BatchReport:
    """Run every job for every day, oldest first. A quarantined partition does not stop the rest,
    except the jobs that read it on that day, which are not run (and reported as such).

    Inputs for all days are checked before anything runs (:func:`plan_batch`), so a backfill never
    stops half-way on a missing file; with ``run_what_can_run`` the jobs the deployment cannot run
    at all are left out and reported instead.
    """
    plan = plan_batch(layout, names, days, listening_events, run_what_can_run)
    published: list[JobRun] = []
    quarantined: list[str] = []
    failed: set[tuple[str, date]] = set()
    started, total = time.perf_counter(), len(plan.days) * len(plan.jobs)
    steps = ((d, n) for d in plan.days for n in plan.jobs)
    for index, (day, name) in enumerate(steps, start=1):
        blocked_by = [u for u in get_job(name).upstream if (u, day) in failed]
        left_out = plan.left_out(name, day)
        if left_out is not None:
            outcome = f"not run: {left_out.reason}"
        elif blocked_by:
            failed.add((name, day))
            quarantined.append(
                f"{name} {day.isoformat()}: not run, its input {blocked_by[0]} was quarantined"
            )
            outcome = f"NOT RUN ({blocked_by[0]} quarantined)"
        else:
            try:
                published.append(
                    run_job(
                        spark,
                        layout,
                        name,
                        day,
                        gate,
                        history=history,
                        models=models,
                        listening_events=listening_events,
                        similarity=similarity,
                    )
                )
                warnings = published[-1].gate.warnings
                outcome = f"published {published[-1].rows:,} rows"
                if warnings:
                    outcome += f" with {len(warnings)} warnings: " + "; ".join(w.describe() for w in warnings)
            except GateFailed as exc:
                failed.add((name, day))
                quarantined.append(f"{name} {day.isoformat()}: {exc}")
                outcome = "QUARANTINED"
        elapsed = time.perf_counter() - started
        remaining = elapsed / index * (total - index)
        progress(
            f"[{index}/{total}] {name} {day.isoformat()}: {outcome} ({elapsed:.0f}s, ~{remaining:.0f}s left)"
        )
    return BatchReport(published, quarantined, plan.not_run)


def run_batch(
    config: PlatformConfig,
    names: list[str],
    days: list[date],
    start_spark: Callable[[], SparkSession],
    progress: Callable[[str], None] = lambda _line: None,
    run_what_can_run: bool = False,
) -> BatchReport:
    """Check every input, then start Spark and run everything; raise if any day was quarantined.

    Checking first means a missing file fails in a second instead of after Spark has started.
    Every validation is recorded in the configured history. ``run_what_can_run`` (``jobs run
    all``): jobs this deployment cannot run at all are reported as not run, which is no failure.
    """
    layout = DataLayout(config.data_dir)
    plan_batch(layout, names, days, config.listening_events, run_what_can_run)
    history = open_history(config)
    try:
        report = run_many(
            start_spark(),
            layout,
            names,
            days,
            quality_gate(config),
            progress,
            history,
            config.models,
            config.listening_events,
            run_what_can_run,
            config.similarity,
        )
    finally:
        history.close()
    progress(report.summary())
    for left_out in report.not_run:
        progress(left_out.describe())
    if report.quarantined:
        raise GateFailed("; ".join(report.quarantined))
    return report


def persisted_partition(frame: DataFrame) -> DataFrame:
    """``frame`` cached for the gate's scans and the write, in at most one partition per core.

    Each of the gate's scans runs a task per cached partition, and each task's partial
    aggregates (the approximate medians above all) are merged on the driver: 16 partitions on 2
    cores made the suite's scans 2-3x slower than 2 partitions, for the same compute (measured on
    a 750,000-row ``content_audio`` partition). Coalescing shuffles nothing; the partition is
    still computed by as many tasks as there are cores, and written as that many files.
    """
    # (Never more partitions than the job computes: coalesce only merges. The runner, not the job,
    # decides how the partition is cached and written: Spark collapses a job's own trailing
    # coalesce into this one. Asking ``frame.rdd`` for its partition count first would plan the
    # job, and run its shuffle stages, once more.)
    parallelism = frame.sparkSession.sparkContext.defaultParallelism
    return frame.coalesce(parallelism).persist(StorageLevel.MEMORY_AND_DISK)


def run_job(
    spark: SparkSession,
    layout: DataLayout,
    name: str,
    day: date,
    gate: QualityGate,
    progress: Callable[[str], None] = lambda _line: None,
    history: ValidationHistory | None = None,
    models: ModelsConfig | None = None,
    listening_events: ListeningEventsSetting = "auto",
    similarity: SimilarityConfig | None = None,
) -> JobRun:
    """Compute ``name`` for ``day``; publish it if it passes the gate, else quarantine and raise.

    The gate compares the partition with the previous published one (row count, drift of key
    signals); the outcome is recorded in ``history`` either way.
    """
    job = get_job(name)
    started = time.perf_counter()
    created_at = datetime.now(UTC)
    run_id = created_at.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    frame = persisted_partition(
        build_partition(
            spark,
            layout,
            job,
            day,
            created_at,
            models=models,
            listening_events=listening_events,
            similarity=similarity,
        )
    )
    try:
        rows = frame.count()
        progress(f"{name} {day.isoformat()}: computed {rows:,} rows ({time.perf_counter() - started:.1f}s)")
        baseline = baseline_profile(spark, layout, job.table, day)
        result = gate.validate(frame, job.table, baseline, run_name=f"{name}-{day.isoformat()}-{run_id}")
        progress(f"{name} {day.isoformat()}: {result.summary()} ({time.perf_counter() - started:.1f}s)")
        if history is not None:
            history.record(result.to_run(run_id, day, profile(frame, job.table, day)))
        if not result.success:
            quarantined = quarantine_partition(
                frame, layout, job.table.name, day, run_id, _validation_record(result, run_id, day)
            )
            raise GateFailed(
                f"{result.summary()}. Partition not published; quarantined at {quarantined.path}"
            )
        path = publish_partition(frame, layout, job.table.name, day, run_id)
    finally:
        frame.unpersist()
    seconds = time.perf_counter() - started
    progress(f"{name} {day.isoformat()}: published {rows:,} rows to {path} ({seconds:.1f}s)")
    if job.after_publish is not None:
        job.after_publish(
            Published(
                layout, day, run_id, models or ModelsConfig(), similarity or SimilarityConfig(), progress
            )
        )
    return JobRun(name, day, run_id, rows, result, path, seconds)


def _validation_record(result: GateResult, run_id: str, day: date) -> dict[str, object]:
    return {
        "table": result.table,
        "partition": day.isoformat(),
        "run_id": run_id,
        "suite": result.suite,
        "success": result.success,
        "outcome": result.outcome,
        "failures": [f.__dict__ for f in result.failures],
        "warnings": [f.__dict__ for f in result.warnings],
        "data_docs": result.data_docs,
        "great_expectations": result.report,
    }
