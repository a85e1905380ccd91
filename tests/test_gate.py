"""The data-quality gate: good batches publish, bad batches are quarantined and never served."""

from __future__ import annotations

import json
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from content_signals_client import SignalsClient, value_of
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from pyspark.sql import functions as F

from content_signals.definitions import CONTENT_METADATA
from content_signals.errors import GateFailed, SignalsError
from content_signals.expectations.suites import build_suite
from content_signals.feature_repo.publishing import publish
from content_signals.jobs.runner import run_job
from content_signals.partitions import partition_timestamp


def test_a_published_partition_passed_every_expectation(pipeline, spark, gate) -> None:  # type: ignore[no-untyped-def]
    frame = spark.read.parquet(
        str(pipeline.layout.signal_partition("content_metadata", pipeline.feature_day))
    )
    result = gate.validate(frame, CONTENT_METADATA)
    assert result.success, result.summary()
    assert result.evaluated == len(build_suite(CONTENT_METADATA).expectations)


def test_bad_rows_fail_the_expectations_that_describe_them(pipeline, spark, gate) -> None:  # type: ignore[no-untyped-def]
    good = spark.read.parquet(str(pipeline.layout.signal_partition("content_metadata", pipeline.feature_day)))
    orphan = good.limit(1).withColumn("content_id", F.lit(None).cast("string"))
    negative = good.withColumn(
        "duration_seconds",
        F.when(F.col("content_id") == "c000001", F.lit(-1.0)).otherwise(F.col("duration_seconds")),
    )
    result = gate.validate(negative.unionByName(orphan), CONTENT_METADATA)
    assert not result.success
    failed = {(f.expectation, f.column) for f in result.failures}
    assert ("expect_column_values_to_not_be_null", "content_id") in failed
    assert ("expect_column_values_to_be_between", "duration_seconds") in failed
    assert "content_id" in result.summary() and "duration_seconds" in result.summary()


@pytest.mark.slow
def test_a_bad_batch_is_quarantined_and_the_previous_values_keep_serving(  # type: ignore[no-untyped-def]
    pipeline, spark, gate, server
) -> None:
    layout, bad_day = pipeline.layout, pipeline.feature_day + timedelta(days=1)
    original = pq.read_table(layout.content_path)
    rows = original.to_pylist()
    rows[1]["duration_ms"] = -5_000
    rows.append({**rows[2], "content_id": None})
    try:
        pq.write_table(pa.Table.from_pylist(rows, schema=original.schema), layout.content_path)
        with pytest.raises(GateFailed) as failure:
            run_job(spark, layout, "content_metadata", bad_day, gate)
    finally:
        pq.write_table(original, layout.content_path)

    message = str(failure.value)
    assert "expect_column_values_to_not_be_null(content_id)" in message
    assert "expect_column_values_to_be_between(duration_seconds)" in message
    assert not layout.signal_partition("content_metadata", bad_day).exists()
    [quarantined] = list(layout.quarantine_dir("content_metadata", bad_day).iterdir())
    record = json.loads((quarantined / "validation.json").read_text())
    assert record["success"] is False and record["partition"] == bad_day.isoformat()
    assert spark.read.parquet(str(quarantined / "data")).where("content_id IS NULL").count() == 1

    with pytest.raises(SignalsError, match="quarantined"):
        publish(pipeline.config, bad_day)

    # The online store still serves the last good partition, through the public gRPC API.
    # The items the bad batch broke (a negative duration, a copy without an id).
    ids = [rows[1]["content_id"], rows[2]["content_id"]]
    expected = {
        row["content_id"]: row.asDict()
        for row in spark.read.parquet(str(layout.signal_partition("content_metadata", pipeline.feature_day)))
        .where(F.col("content_id").isin(*ids))
        .collect()
    }
    good_stamp = int(partition_timestamp(pipeline.feature_day).timestamp() * 1_000_000)
    with SignalsClient(server, timeout_s=30.0) as client:
        response = client.get_online_features(ids, feature_service="ranking_v1")
    assert response.content_ids == ids
    for name in CONTENT_METADATA.signal_names:
        column = response.column(f"content_metadata:{name}")
        for row, content_id in enumerate(ids):
            wanted = expected[content_id][name]
            status = pb.FEATURE_STATUS_PRESENT if wanted is not None else pb.FEATURE_STATUS_NULL_VALUE
            assert column.statuses[row] == status, (content_id, name)
            assert value_of(column, row) == wanted, (content_id, name)
            assert column.event_timestamps_us[row] == good_stamp, (content_id, name)
