"""The data-quality gate: validate a partition's Spark DataFrame before it is published.

Fail closed: a failed ``error`` expectation, or any expectation that could not be evaluated,
blocks the partition. A failed ``warning`` expectation (drift, by default) lets it publish, and is
reported and recorded. With a data-docs root, every run also builds its Great Expectations Data
Docs page.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from great_expectations.data_context import AbstractDataContext
from pyspark.sql import DataFrame

from content_signals.config import PlatformConfig, QualityConfig, Severity
from content_signals.definitions import SignalTable
from content_signals.expectations.history import ExpectationOutcome, Outcome, ValidationRun
from content_signals.expectations.profile import PartitionProfile
from content_signals.expectations.suites import build_suite

# Keyword arguments that say what an expectation checks, not how its result is shaped.
_NOT_THRESHOLDS = {"column", "result_format", "catch_exceptions", "batch_id", "meta"}


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str | None
    observed: str
    severity: Severity = "error"

    def describe(self) -> str:
        target = f"({self.column})" if self.column else ""
        return f"{self.expectation}{target}: {self.observed}"


@dataclass(frozen=True)
class GateResult:
    table: str
    suite: str
    success: bool  # False when publication is blocked
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)  # errors: they block
    warnings: list[FailedExpectation] = field(default_factory=list)  # published, but reported
    outcomes: tuple[ExpectationOutcome, ...] = ()
    report: dict[str, Any] = field(default_factory=dict)
    data_docs: str | None = None

    @property
    def outcome(self) -> Outcome:
        if self.failures:
            return "blocked"
        return "warned" if self.warnings else "passed"

    def summary(self) -> str:
        warned = "; ".join(f.describe() for f in self.warnings)
        if self.failures:
            failed = "; ".join(f.describe() for f in self.failures)
            text = f"{self.table}: {len(self.failures)} of {self.evaluated} expectations failed: {failed}"
            return text + (f" (and {len(self.warnings)} warnings: {warned})" if self.warnings else "")
        if self.warnings:
            return (
                f"{self.table}: passed {self.suite} with {len(self.warnings)} warnings of "
                f"{self.evaluated} expectations: {warned}"
            )
        return f"{self.table}: all {self.evaluated} expectations of {self.suite} passed"

    def to_run(
        self,
        run_id: str,
        partition: date,
        profile: PartitionProfile,
        trigger: str = "job",
    ) -> ValidationRun:
        """This result as a record of the validation history."""
        return ValidationRun(
            run_id=run_id,
            table=self.table,
            partition=partition,
            suite=self.suite,
            validated_at=datetime.now(UTC),
            outcome=self.outcome,
            rows=profile.rows,
            stats=profile.stats(),
            expectations=self.outcomes,
            trigger=trigger,
            data_docs=self.data_docs,
        )


def _observed(result: dict[str, Any], exception_info: dict[str, Any] | None) -> str:
    if exception_info and exception_info.get("raised_exception"):
        return f"could not be evaluated: {exception_info.get('exception_message')}"
    if "unexpected_count" in result:
        sample = result.get("partial_unexpected_list") or []
        shown = f", e.g. {sample[:3]}" if sample else ""
        return f"{result['unexpected_count']} unexpected values{shown}"
    if "observed_value" in result:
        return f"observed {result['observed_value']}"
    return json.dumps(result, default=str)[:200] if result else ""


def _severity(config: Any) -> Severity:
    value = getattr(config, "severity", None)
    return "warning" if str(getattr(value, "value", value)).lower() == "warning" else "error"


def _threshold(kwargs: dict[str, Any]) -> str | None:
    kept = {k: v for k, v in kwargs.items() if k not in _NOT_THRESHOLDS and v is not None}
    return json.dumps(kept, default=str, sort_keys=True) if kept else None


def _limit_index(context: AbstractDataContext, runs: int) -> None:
    """List only the newest ``runs`` validation runs on each Data Docs site's index page.

    Rebuilding the index loads every run it lists (GE's ``DefaultSiteIndexBuilder``); without a
    limit, each validation got slower as the history grew (about 1.2 ms per stored run here, see
    BENCHMARKS.md).
    """
    for name, site in context.list_data_docs_sites().items():
        index = dict(site.get("site_index_builder") or {"class_name": "DefaultSiteIndexBuilder"})
        if index.get("validation_results_limit") != runs:
            index["validation_results_limit"] = runs
            context.update_data_docs_site(name, {**site, "site_index_builder": index})  # type: ignore[typeddict-item]


class QualityGate:
    """Runs a table's suite on a DataFrame. One Great Expectations context per process.

    ``data_docs_root`` makes it a file context there, so every run is stored and rendered as a
    Data Docs page; without it the context is ephemeral and nothing is written.
    """

    def __init__(self, policy: QualityConfig | None = None, data_docs_root: Path | None = None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self._gx = gx
        self._policy = policy or QualityConfig()
        self._context: AbstractDataContext
        if data_docs_root is not None:
            data_docs_root.mkdir(parents=True, exist_ok=True)
            self._context = gx.get_context(mode="file", project_root_dir=str(data_docs_root))
            _limit_index(self._context, self._policy.data_docs_index_runs)
        else:
            self._context = gx.get_context(mode="ephemeral")
        self._docs = data_docs_root is not None
        # Per-metric progress bars flood logs; the job prints its own per-stage progress lines.
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._source = self._context.data_sources.add_or_update_spark(name="signals")

    def _run(self, definition: Any, frame: DataFrame, result_format: str, run_name: str) -> tuple[Any, Any]:
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.core.run_identifier import RunIdentifier

        checkpoint = self._context.checkpoints.add_or_update(
            self._gx.Checkpoint(
                name=definition.name,
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="data_docs")] if self._docs else [],
                result_format={"result_format": result_format, "partial_unexpected_count": 5},
            )
        )
        checkpoint_result = checkpoint.run(
            batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name)
        )
        [(identifier, result)] = checkpoint_result.run_results.items()
        return identifier, result

    def validate(
        self,
        frame: DataFrame,
        table: SignalTable,
        baseline: PartitionProfile | None = None,
        run_name: str | None = None,
    ) -> GateResult:
        """Validate ``frame`` against ``table``'s suite (with anomaly checks when a baseline exists)."""
        gx = self._gx
        suite = self._context.suites.add_or_update(build_suite(table, baseline, self._policy))
        try:
            asset = self._source.get_asset(table.name)
        except LookupError:
            asset = self._source.add_dataframe_asset(name=table.name)
        try:
            batch_definition = asset.get_batch_definition("whole")
        except KeyError:
            batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        definition = self._context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=table.name, data=batch_definition, suite=suite)
        )
        # Pass/fail alone needs only aggregate metrics, which GE bundles into few Spark scans;
        # samples of unexpected values cost a scan per expectation, so they are computed only
        # when something failed (a second run, on the same persisted frame).
        identifier, result = self._run(definition, frame, "BOOLEAN_ONLY", run_name or table.name)
        if not result.success:
            identifier, result = self._run(definition, frame, "SUMMARY", run_name or table.name)

        outcomes: list[ExpectationOutcome] = []
        failures: list[FailedExpectation] = []
        warnings: list[FailedExpectation] = []
        for r in result.results:
            config = r.expectation_config
            assert config is not None  # GE attaches the configuration to every result
            severity = _severity(config)
            observed = _observed(r.result or {}, r.exception_info)
            # An expectation that raised is a failure whatever its severity: fail closed.
            raised = bool(r.exception_info and r.exception_info.get("raised_exception"))
            column = config.kwargs.get("column")
            outcomes.append(
                ExpectationOutcome(
                    expectation=config.type,
                    column=column,
                    severity=severity,
                    success=bool(r.success),
                    observed=observed or None,
                    threshold=_threshold(dict(config.kwargs)),
                )
            )
            if not r.success:
                failed = FailedExpectation(config.type, column, observed, "error" if raised else severity)
                (failures if failed.severity == "error" else warnings).append(failed)
        docs = None
        if self._docs:
            sites = self._context.get_docs_sites_urls(resource_identifier=identifier)
            docs = sites[0]["site_url"] if sites else None
        return GateResult(
            table=table.name,
            suite=suite.name,
            success=not failures,
            evaluated=len(result.results),
            failures=failures,
            warnings=warnings,
            outcomes=tuple(outcomes),
            report=result.describe_dict(),
            data_docs=docs,
        )


def quality_gate(config: PlatformConfig) -> QualityGate:
    """The gate as configured: its policy, and Data Docs under the data directory when enabled."""
    docs_root = config.resolve("quality/gx") if config.quality.data_docs else None
    return QualityGate(config.quality, docs_root)
