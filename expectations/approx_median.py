"""A median drift check that Great Expectations computes in the same Spark scan as its other aggregates.

Why this module exists: GE's own ``expect_column_median_to_be_between`` computes an exact median
with ``DataFrame.approxQuantile(..., relativeError=0)``, a separate full sort per column: on a
1,000,000-row partition each one cost more than all the other expectations of the suite together.
Its quantile expectation has the same cost and returns a numpy bool that GE's own result store
cannot serialise. A drift check needs no exact median: the column ``column.approx_median`` metric
here is Spark's ``percentile_approx`` (accuracy 10,000: rank error at most 1/10,000 of the rows),
an aggregate expression that GE bundles with the row counts, null counts, ranges and means of the
same columns into one scan.

Importing the module registers the metric and the expectation with GE (its registry is keyed by
name), so :mod:`content_signals.expectations.suites` imports it before building a suite.
"""

from __future__ import annotations

from typing import Any

from great_expectations.execution_engine import ExecutionEngine, SparkDFExecutionEngine
from great_expectations.expectations import ExpectColumnMedianToBeBetween
from great_expectations.expectations.metrics.column_aggregate_metric_provider import (
    ColumnAggregateMetricProvider,
    column_aggregate_partial,
)
from pyspark.sql import Column
from pyspark.sql import functions as F

# percentile_approx's accuracy: the returned value's rank is within rows / ACCURACY of the median.
ACCURACY = 10_000
METRIC = "column.approx_median"


class ColumnApproxMedian(ColumnAggregateMetricProvider):
    """The column's approximate median (Spark ``percentile_approx``), as a bundleable aggregate."""

    metric_name = METRIC
    value_keys = ()

    @column_aggregate_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column: Column, **kwargs: Any) -> Column:
        return F.percentile_approx(column.cast("double"), 0.5, ACCURACY)


class ExpectColumnApproxMedianToBeBetween(ExpectColumnMedianToBeBetween):
    """Expect the column's approximate median (rank error <= 1/10,000) to lie in a range.

    The same arguments, result and rendering as GE's ``ExpectColumnMedianToBeBetween``; only the
    metric differs (see the module docstring).
    """

    metric_dependencies = (METRIC,)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: ExecutionEngine | None = None,
    ) -> Any:
        return self._validate_metric_value_between(
            metric_name=METRIC,
            metrics=metrics,
            runtime_configuration=runtime_configuration,
            execution_engine=execution_engine,
        )
