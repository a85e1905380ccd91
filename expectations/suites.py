"""Great Expectations suites derived from the signal definitions.

Each signal's type, nullability, range and allowed values become expectations, so adding a signal
in :mod:`content_signals.definitions` adds its checks too. Table-level rules (exact column set, one
row per entity, a non-empty batch) apply to every signal table.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
from great_expectations.core import ExpectationSuite

from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP, DType, SignalTable

SUITE_VERSION = "1"

# Spark type names as Great Expectations reports them for a Spark DataFrame.
_GE_SPARK_TYPES: dict[DType, str] = {
    "int64": "LongType",
    "double": "DoubleType",
    "string": "StringType",
    "bool": "BooleanType",
}


def build_suite(table: SignalTable) -> ExpectationSuite:
    key = table.entity.join_key
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*table.key_columns, *table.signal_names], exact_match=True
        ),
        gxe.ExpectColumnValuesToBeUnique(column=key),
    ]
    for column in (key, ENTITY_TIMESTAMP, CREATED_TIMESTAMP):
        expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=column))
    for column in (ENTITY_TIMESTAMP, CREATED_TIMESTAMP):
        expectations.append(gxe.ExpectColumnValuesToBeOfType(column=column, type_="TimestampType"))
    expectations.append(gxe.ExpectColumnValuesToBeOfType(column=key, type_="StringType"))

    for signal in table.signals:
        expectations.append(
            gxe.ExpectColumnValuesToBeOfType(column=signal.name, type_=_GE_SPARK_TYPES[signal.dtype])
        )
        if not signal.nullable:
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=signal.name))
        if signal.min_value is not None or signal.max_value is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=signal.name, min_value=signal.min_value, max_value=signal.max_value
                )
            )
        if signal.allowed_values is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(column=signal.name, value_set=list(signal.allowed_values))
            )

    suite = ExpectationSuite(name=f"{table.name}.v{SUITE_VERSION}")
    for expectation in expectations:
        suite.add_expectation(expectation)
    return suite
