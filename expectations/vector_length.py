"""Every vector of a ``float_vector`` signal must have the signal's dimension.

Why this module exists: Great Expectations has no expectation on the length of array values (its
value-length expectations measure strings, and Spark's ``length`` refuses arrays). A wrong-length
vector would make every model reading the feature fail or, worse, read misaligned values, so the
gate must catch it before publication.

The ``column.vector_length_mismatches`` metric counts the non-null values whose ``size`` differs
from the expected dimension: a Spark aggregate that GE bundles into the same scan as the suite's
other aggregates. Importing the module registers the metric and the expectation with GE.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.execution_engine import ExecutionEngine, SparkDFExecutionEngine
from great_expectations.expectations.expectation import ColumnAggregateExpectation
from great_expectations.expectations.metrics.column_aggregate_metric_provider import (
    ColumnAggregateMetricProvider,
    column_aggregate_partial,
)
from pyspark.sql import Column
from pyspark.sql import functions as F

METRIC = "column.vector_length_mismatches"


class ColumnVectorLengthMismatches(ColumnAggregateMetricProvider):
    """How many non-null array values do not have ``dimension`` elements."""

    metric_name = METRIC
    value_keys = ("dimension",)

    @column_aggregate_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column: Column, dimension: int, **kwargs: Any) -> Column:
        return F.count_if(column.isNotNull() & (F.size(column) != F.lit(dimension)))


class ExpectColumnVectorLengthsToEqual(ColumnAggregateExpectation):
    """Expect every non-null vector in the column to have exactly ``dimension`` elements.

    The observed value is the number of vectors of another length (0 when the partition is good).
    """

    dimension: int

    metric_dependencies = (METRIC,)
    success_keys = ("dimension",)
    args_keys = ("column", "dimension")
    library_metadata: ClassVar[dict[str, Any]] = {"tags": ["vector"], "contributors": ["content-signals"]}

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: ExecutionEngine | None = None,
    ) -> dict[str, Any]:
        mismatches = int(metrics[METRIC] or 0)
        return {"success": mismatches == 0, "result": {"observed_value": mismatches}}
