"""The validation history keeps runs, expectations and releases across restarts, on SQLite and PostgreSQL.

The PostgreSQL cases use the real server (``SIGNALS_TEST_POSTGRES_URL``, by default the local one) with
a table prefix unique to the test, and drop those tables afterwards. Outside CI they are skipped when
the server is unreachable; in CI (``CI`` set) they fail instead, so they can never silently stop running.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from content_signals.errors import SignalsError
from content_signals.expectations.history import (
    ExpectationOutcome,
    Release,
    ValidationHistory,
    ValidationRun,
    outcome_of,
)

POSTGRES_URL = os.environ.get(
    "SIGNALS_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
T0 = datetime(2026, 3, 2, 6, 30, 15, 123456, tzinfo=UTC)


def _postgres_reachable() -> str | None:
    """None when the server answers, else why not."""
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except sa.exc.SQLAlchemyError as exc:
        return " ".join(str(getattr(exc, "orig", exc)).split())
    finally:
        engine.dispose()


def _drop_prefixed(prefix: str) -> None:
    engine = sa.create_engine(POSTGRES_URL)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine, only=lambda name, _meta: name.startswith(prefix))
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(url, table_prefix) of an empty store on each engine: every test taking it is a contract test
    that runs once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'quality' / 'history.db'}", "q_"
        return
    unreachable = _postgres_reachable()
    if unreachable is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI but unreachable: {unreachable}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable (and CI is unset): {unreachable}")
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    try:
        yield POSTGRES_URL, prefix
    finally:
        _drop_prefixed(prefix)


def _run(
    run_id: str,
    table: str = "content_metadata",
    day: date = date(2026, 3, 1),
    at: datetime = T0,
    failed_severity: str | None = None,
) -> ValidationRun:
    expectations = (
        ExpectationOutcome(
            "expect_column_values_to_not_be_null", "content_id", "error", True, "0 unexpected values", None
        ),
        ExpectationOutcome(
            "expect_column_mean_to_be_between",
            "title_length",
            failed_severity or "warning",  # type: ignore[arg-type]
            failed_severity is None,
            "observed 0.41",
            '{"min_value": 0.1, "max_value": 0.3}',
        ),
        ExpectationOutcome("expect_table_row_count_to_be_between", None, "error", True, None, None),
    )
    return ValidationRun(
        run_id=run_id,
        table=table,
        partition=day,
        suite=f"{table}.v2",
        validated_at=at,
        outcome=outcome_of(expectations),
        rows=1_234_567,
        stats={
            "title_length": {"mean": 31.5, "stddev": 4.25, "p50": 30.0, "null_rate": 0.0},
            "duration_seconds": {"mean": 212.0, "stddev": None, "p50": 201.5, "null_rate": 0.125},
        },
        expectations=expectations,
        trigger="job",
        data_docs="/data/gx/docs/run.html",
    )


def test_runs_expectations_and_releases_round_trip(store: tuple[str, str]) -> None:
    url, prefix = store
    run = _run("r1", failed_severity="error")
    release = Release(
        "content_metadata", date(2026, 3, 1), "r1", T0 + timedelta(hours=2), "alice", True, "ok"
    )
    with ValidationHistory(url, table_prefix=prefix) as history:
        history.record(run)
        history.record_release(release)
        (back,) = history.runs()
        assert back == run
        assert back.outcome == "blocked"
        assert [e.expectation for e in back.expectations] == [e.expectation for e in run.expectations]
        assert list(back.stats) == ["title_length", "duration_seconds"]
        assert back.validated_at.tzinfo is not None and back.validated_at.utcoffset() == timedelta(0)
        assert history.releases() == [release]
        assert history.releases()[0].released_at.utcoffset() == timedelta(0)


def test_newest_first_filters_limit_and_latest_by_table(store: tuple[str, str]) -> None:
    url, prefix = store
    with ValidationHistory(url, table_prefix=prefix) as history:
        # Recorded out of order: ordering must come from validated_at, not from insertion.
        for run_id, table, hours, day in [
            ("m2", "content_metadata", 2, date(2026, 3, 2)),
            ("e1", "content_engagement", 1, date(2026, 3, 1)),
            ("m1", "content_metadata", 0, date(2026, 3, 1)),
            ("m3", "content_metadata", 3, date(2026, 3, 2)),  # a re-validation of 03-02
        ]:
            history.record(_run(run_id, table, day, T0 + timedelta(hours=hours)))
        assert [r.run_id for r in history.runs()] == ["m3", "m2", "e1", "m1"]
        assert [r.run_id for r in history.runs(table="content_metadata")] == ["m3", "m2", "m1"]
        assert [r.run_id for r in history.runs(partition=date(2026, 3, 1))] == ["e1", "m1"]
        assert [r.run_id for r in history.runs("content_metadata", date(2026, 3, 2), limit=1)] == ["m3"]
        assert [r.run_id for r in history.runs(limit=2)] == ["m3", "m2"]
        assert history.runs(table="creator_profile") == []
        latest = history.latest_by_table()
        assert {t: r.run_id for t, r in latest.items()} == {
            "content_engagement": "e1",
            "content_metadata": "m3",
        }
        assert latest["content_metadata"].expectations == _run("m3").expectations

        for hours, by in [(1, "bob"), (5, "carol"), (3, "dave")]:
            history.record_release(
                Release(
                    "content_metadata", date(2026, 3, 2), "m2", T0 + timedelta(hours=hours), by, False, None
                )
            )
        assert [r.released_by for r in history.releases()] == ["carol", "dave", "bob"]
        assert history.releases(table="content_engagement") == []


def test_history_survives_closing_and_reopening(store: tuple[str, str]) -> None:
    url, prefix = store
    first = ValidationHistory(url, table_prefix=prefix)
    first.record(_run("before-restart", failed_severity="warning"))
    first.close()
    with pytest.raises(SignalsError, match="closed"):
        first.runs()

    with ValidationHistory(url, table_prefix=prefix) as reopened:
        assert [r.run_id for r in reopened.runs()] == ["before-restart"]
        assert reopened.runs()[0].outcome == "warned"
        reopened.record(_run("after-restart", at=T0 + timedelta(days=1)))
        # The same run id is stored once, even across restarts.
        with pytest.raises(SignalsError, match="already recorded"):
            reopened.record(_run("before-restart"))
        assert [r.run_id for r in reopened.runs()] == ["after-restart", "before-restart"]


def test_timestamps_in_other_zones_come_back_as_utc_and_naive_ones_are_refused(
    store: tuple[str, str],
) -> None:
    url, prefix = store
    paris = timezone(timedelta(hours=1))
    with ValidationHistory(url, table_prefix=prefix) as history:
        history.record(_run("zoned", at=datetime(2026, 3, 2, 8, 0, tzinfo=paris)))
        (back,) = history.runs()
        assert back.validated_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
        assert back.validated_at.tzinfo == UTC
        with pytest.raises(ValueError, match="timezone-aware"):
            history.record(_run("naive", at=datetime(2026, 3, 2, 8, 0)))
        assert [r.run_id for r in history.runs()] == ["zoned"]


def test_two_prefixes_share_one_database_without_seeing_each_other(store: tuple[str, str]) -> None:
    url, prefix = store
    # Under the test's prefix, so the fixture drops these tables too.
    other = f"{prefix}other_"
    with (
        ValidationHistory(url, table_prefix=prefix) as mine,
        ValidationHistory(url, table_prefix=other) as theirs,
    ):
        mine.record(_run("mine"))
        theirs.record(_run("theirs"))
        assert [r.run_id for r in mine.runs()] == ["mine"]
        assert [r.run_id for r in theirs.runs()] == ["theirs"]


def test_the_schema_is_normalised_and_prefixed(store: tuple[str, str]) -> None:
    url, prefix = store
    ValidationHistory(url, table_prefix=prefix).close()
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        assert {name for name in inspector.get_table_names() if name.startswith(prefix)} == {
            f"{prefix}schema_version",
            f"{prefix}runs",
            f"{prefix}expectation_results",
            f"{prefix}signal_stats",
            f"{prefix}releases",
        }
        (fk,) = inspector.get_foreign_keys(f"{prefix}expectation_results")
        assert fk["referred_table"] == f"{prefix}runs"
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version FROM {prefix}schema_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_newer_schema_version_is_refused(store: tuple[str, str]) -> None:
    url, prefix = store
    ValidationHistory(url, table_prefix=prefix).close()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {prefix}schema_version SET version = 99"))
    finally:
        engine.dispose()
    with pytest.raises(SignalsError, match="schema version 99"):
        ValidationHistory(url, table_prefix=prefix)


def test_the_default_table_prefix_is_quality(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'h.db'}"
    ValidationHistory(url).close()
    engine = sa.create_engine(url)
    try:
        assert "quality_runs" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "not a valid SQLAlchemy URL"),
        ("nosuchdb://x/y", "unsupported database URL"),
        # Nothing listens on port 1; the password must not appear in the message.
        ("postgresql+psycopg2://postgres:s3cret-pw@127.0.0.1:1/test", "could not open"),
        ("sqlite:////proc/no-such-dir/h.db", "could not open"),
    ],
)
def test_a_bad_url_is_a_one_line_signals_error_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(SignalsError, match=reason) as raised:
        ValidationHistory(url)
    message = str(raised.value)
    assert "\n" not in message
    assert "s3cret-pw" not in message


def test_a_bad_table_prefix_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignalsError, match="table prefix"):
        ValidationHistory(f"sqlite:///{tmp_path / 'h.db'}", table_prefix="Robert'); DROP TABLE x;--")
