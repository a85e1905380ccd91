"""The data-quality gate: validate a partition's Spark DataFrame before it is published.

Fail closed: anything other than a clean pass (a failed expectation, or an expectation that could
not be evaluated) blocks the partition.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame

from content_signals.definitions import SignalTable
from expectations.suites import build_suite


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str | None
    observed: str

    def describe(self) -> str:
        target = f"({self.column})" if self.column else ""
        return f"{self.expectation}{target}: {self.observed}"


@dataclass(frozen=True)
class GateResult:
    table: str
    suite: str
    success: bool
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.success:
            return f"{self.table}: all {self.evaluated} expectations of {self.suite} passed"
        failed = "; ".join(f.describe() for f in self.failures)
        return f"{self.table}: {len(self.failures)} of {self.evaluated} expectations failed: {failed}"


def _observed(result: dict[str, Any], exception_info: dict[str, Any] | None) -> str:
    if exception_info and exception_info.get("raised_exception"):
        return f"could not be evaluated: {exception_info.get('exception_message')}"
    if "unexpected_count" in result:
        sample = result.get("partial_unexpected_list") or []
        shown = f", e.g. {sample[:3]}" if sample else ""
        return f"{result['unexpected_count']} unexpected values{shown}"
    if "observed_value" in result:
        return f"observed {result['observed_value']}"
    return json.dumps(result, default=str)[:200]


class QualityGate:
    """Runs a table's suite on a DataFrame. One Great Expectations context per process."""

    def __init__(self) -> None:
        import great_expectations as gx

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self._gx = gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._context = gx.get_context(mode="ephemeral")
        # Per-metric progress bars flood logs; the job prints its own per-stage progress lines.
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._source = self._context.data_sources.add_or_update_spark(name="signals")

    def validate(self, frame: DataFrame, table: SignalTable) -> GateResult:
        gx = self._gx
        suite = self._context.suites.add_or_update(build_suite(table))
        asset_name = f"{table.name}-{uuid.uuid4().hex[:8]}"
        asset = self._source.add_dataframe_asset(name=asset_name)
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        try:
            definition = gx.ValidationDefinition(name=asset_name, data=batch_definition, suite=suite)
            result = definition.run(
                batch_parameters={"dataframe": frame},
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        finally:
            self._source.delete_asset(name=asset_name)

        report = result.describe_dict()
        failures = [
            FailedExpectation(
                expectation=r.expectation_config.type,
                column=r.expectation_config.kwargs.get("column"),
                observed=_observed(r.result or {}, r.exception_info),
            )
            for r in result.results
            if not r.success
        ]
        return GateResult(
            table=table.name,
            suite=suite.name,
            success=bool(result.success) and not failures,
            evaluated=len(result.results),
            failures=failures,
            report=report,
        )
