"""A validation history that outlives the process: every gate run, its expectations and releases.

Quarantine folders say what is blocked *now*; platform teams also need what happened over time (which
partitions passed, warned or were blocked, how row counts and key signals drifted, who released a
quarantined partition and whether they overrode the gate). That is what this store keeps.

It is SQLAlchemy Core, so one code path serves a local SQLite file (the default: nothing to run) and
a shared PostgreSQL database (a deployment). All tables carry a prefix (``quality_`` by default) so
several platforms can share one database, and a ``<prefix>schema_version`` table records the layout
so a newer layout is refused instead of misread.

The schema is normalised so that it can be queried with plain SQL (say, a drift chart in a BI tool):

    <prefix>runs                 one row per validation run (run_id unique)
    <prefix>expectation_results  one row per expectation of a run (FK to the run, in suite order)
    <prefix>signal_stats         one row per (run, signal, metric) (FK to the run)
    <prefix>releases             one row per release of a quarantined run

Timestamps are stored in UTC and always come back timezone-aware in UTC, on either engine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    ProgrammingError,
    SQLAlchemyError,
)

from content_signals.config import PlatformConfig
from content_signals.errors import SignalsError

Severity = Literal["error", "warning"]
Outcome = Literal[
    "passed", "warned", "blocked"
]  # passed: nothing failed; warned: only warnings failed; blocked: an error failed

# Bump when the table layout changes; a database written by a newer layout is refused.
SCHEMA_VERSION = 1
_SEVERITIES: tuple[str, ...] = get_args(Severity)
_OUTCOMES: tuple[str, ...] = get_args(Outcome)
# Lower case so that PostgreSQL needs no quoting; short so that every derived name (tables,
# indexes, constraints) stays under PostgreSQL's 63-character identifier limit.
_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,29}")
# Applies only to PostgreSQL via psycopg2 when the URL sets none: an unreachable host should fail
# the command in seconds, not hang on the operating system's TCP timeout.
_CONNECT_TIMEOUT_S = 10
# Run ids per IN list when reading a run's children (SQLite allowed only 999 parameters before 3.32).
_CHUNK = 500


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # GE type, e.g. "expect_column_mean_to_be_between"
    column: str | None
    severity: Severity
    success: bool
    observed: str | None  # what was observed, as text (e.g. "observed 0.41")
    threshold: str | None  # the parameters that applied, as JSON text


@dataclass(frozen=True)
class ValidationRun:
    run_id: str
    table: str
    partition: date
    suite: str  # name incl. version, e.g. "content_metadata.v2"
    validated_at: datetime  # timezone-aware UTC
    outcome: Outcome
    rows: int
    stats: dict[str, dict[str, float | None]]  # per key signal: {"mean", "stddev", "p50", "null_rate"}
    expectations: tuple[ExpectationOutcome, ...]
    trigger: str = "job"  # "job" | "validate" | "release"
    data_docs: str | None = None  # path of this run's Data Docs page (HTML), if built


@dataclass(frozen=True)
class Release:
    table: str
    partition: date
    run_id: str  # the quarantined run released
    released_at: datetime  # UTC
    released_by: str  # who (OS user or --by)
    override: bool  # True when released without a passing re-validation
    reason: str | None


def outcome_of(expectations: Iterable[ExpectationOutcome]) -> Outcome:
    """The outcome the contract defines: blocked if an error failed, warned if only warnings did."""
    failed = {e.severity for e in expectations if not e.success}
    if "error" in failed:
        return "blocked"
    return "warned" if failed else "passed"


class _UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out.

    PostgreSQL keeps the zone (``timestamptz``) but returns it in the session's zone; SQLite keeps
    none and returns naive values. Normalising here means callers never see either difference.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class _Tables:
    metadata: MetaData
    schema_version: Table
    runs: Table
    expectations: Table
    stats: Table
    releases: Table


def _tables(prefix: str) -> _Tables:
    # Every index and constraint name embeds the (prefixed) table name, so that two platforms'
    # tables in one PostgreSQL schema never collide on a name.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    schema_version = Table(
        f"{prefix}schema_version",
        metadata,
        # A fixed key: two processes creating the store at once cannot both insert a version row.
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
    )
    runs = Table(
        f"{prefix}runs",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(200), nullable=False, unique=True),
        Column("table_name", String(200), nullable=False),
        Column("partition_date", Date, nullable=False),
        Column("suite", String(200), nullable=False),
        Column("validated_at", _UTCDateTime, nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("row_count", BigInteger, nullable=False),
        Column("triggered_by", String(32), nullable=False),
        Column("data_docs", Text, nullable=True),
        CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in _OUTCOMES)})", name="outcome"),
        Index(None, "table_name", "partition_date"),
        Index(None, "validated_at"),
    )
    expectations = Table(
        f"{prefix}expectation_results",
        metadata,
        Column("run_pk", Integer, ForeignKey(runs.c.id, ondelete="CASCADE"), primary_key=True),
        # Suite order, so a run's expectations read back in the order they were validated.
        Column("position", Integer, primary_key=True, autoincrement=False),
        Column("expectation", String(200), nullable=False),
        Column("column_name", String(200), nullable=True),
        Column("severity", String(16), nullable=False),
        Column("success", Boolean, nullable=False),
        Column("observed", Text, nullable=True),
        Column("threshold", Text, nullable=True),
        CheckConstraint(f"severity IN ({', '.join(repr(s) for s in _SEVERITIES)})", name="severity"),
    )
    stats = Table(
        f"{prefix}signal_stats",
        metadata,
        Column("run_pk", Integer, ForeignKey(runs.c.id, ondelete="CASCADE"), primary_key=True),
        Column("signal", String(200), primary_key=True),
        Column("metric", String(64), primary_key=True),
        # Insertion order of the stats dict (signals, then metrics), kept for display.
        Column("position", Integer, nullable=False),
        Column("value", Double, nullable=True),
    )
    releases = Table(
        f"{prefix}releases",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("table_name", String(200), nullable=False),
        Column("partition_date", Date, nullable=False),
        # Deliberately not a foreign key: a partition quarantined before the history was enabled
        # (or recorded in another store) must still be releasable.
        Column("run_id", String(200), nullable=False, index=True),
        Column("released_at", _UTCDateTime, nullable=False),
        Column("released_by", String(200), nullable=False),
        Column("override", Boolean, nullable=False),
        Column("reason", Text, nullable=True),
        Index(None, "table_name", "partition_date"),
    )
    return _Tables(metadata, schema_version, runs, expectations, stats, releases)


def _one_line(exc: BaseException, url: URL) -> str:
    """The driver's own reason, on one line, with the password (if any) taken out."""
    reason = str(getattr(exc, "orig", None) or exc)
    reason = " ".join(reason.split())
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason[:300]


class ValidationHistory:
    """Validation runs and releases in SQLite or PostgreSQL, created on first use.

    One instance holds one connection pool; share it within a process and call :meth:`close` (or
    use it as a context manager) when done.
    """

    def __init__(self, url: str, *, table_prefix: str = "quality_") -> None:
        if not _PREFIX_PATTERN.fullmatch(table_prefix):
            raise SignalsError(
                f"validation history table prefix {table_prefix!r} must be lower-case letters, digits "
                "and underscores, start with a letter and be at most 30 characters"
            )
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            # The URL itself is not echoed: it may hold a password.
            raise SignalsError(
                "validation history URL is not a valid SQLAlchemy URL (expected e.g. sqlite:///abs/path.db "
                "or postgresql+psycopg2://user@host:5432/db)"
            ) from exc
        self._url = parsed
        self._where = parsed.render_as_string(hide_password=True)
        self._t = _tables(table_prefix)
        self._closed = False
        try:
            self._engine = self._create_engine(parsed)
        except (NoSuchModuleError, ArgumentError, ImportError) as exc:
            raise SignalsError(
                f"validation history {self._where}: unsupported database URL ({_one_line(exc, parsed)})"
            ) from exc
        except OSError as exc:  # the SQLite file's folder could not be created
            raise SignalsError(
                f"validation history {self._where}: could not open: {_one_line(exc, parsed)}"
            ) from exc
        try:
            with self._errors("could not open"):
                self._create_tables()
                self._check_schema_version()
        except BaseException:
            self._engine.dispose()
            raise

    def _create_tables(self) -> None:
        try:
            self._t.metadata.create_all(self._engine, checkfirst=True)
        except (ProgrammingError, IntegrityError):
            # Another process created a table between the check and the CREATE (PostgreSQL reports
            # it as one of these); the second pass finds every table and creates nothing.
            self._t.metadata.create_all(self._engine, checkfirst=True)

    def _create_engine(self, url: URL) -> Engine:
        connect_args: dict[str, Any] = {}
        backend = url.get_backend_name()
        if backend == "sqlite":
            if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
                Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # A dashboard reading while a job writes waits for the lock instead of failing at once.
            connect_args["timeout"] = 30
        elif (
            backend == "postgresql"
            and url.get_driver_name() == "psycopg2"
            and "connect_timeout" not in url.query
        ):
            connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=backend != "sqlite")
        if backend == "sqlite":

            @event.listens_for(engine, "connect")
            def _enable_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
                # SQLite ignores foreign keys (and ON DELETE CASCADE) unless asked, per connection.
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

        return engine

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Database failures as one-line :class:`SignalsError` naming the store (never its password)."""
        if self._closed:
            raise SignalsError(f"validation history {self._where} is closed")
        try:
            yield
        except SQLAlchemyError as exc:
            raise SignalsError(
                f"validation history {self._where}: {doing}: {_one_line(exc, self._url)}"
            ) from exc

    def _check_schema_version(self) -> None:
        table = self._t.schema_version
        read = select(table.c.version).where(table.c.id == 1)
        with self._engine.connect() as conn:
            found = conn.execute(read).scalar_one_or_none()
        if found is None:
            try:
                with self._engine.begin() as conn:
                    conn.execute(table.insert().values(id=1, version=SCHEMA_VERSION))
                return
            except IntegrityError:  # another process created the store at the same moment
                with self._engine.connect() as conn:
                    found = conn.execute(read).scalar_one()
        if found > SCHEMA_VERSION:
            raise SignalsError(
                f"validation history {self._where} ({table.name}) has schema version {found}, newer "
                f"than this version of content-signals understands ({SCHEMA_VERSION}); upgrade it"
            )

    # -- writing ---------------------------------------------------------------------------------

    def record(self, run: ValidationRun) -> None:
        """Store one run with its expectations and stats, all or nothing. A run_id is stored once."""
        if run.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be one of {_OUTCOMES}, got {run.outcome!r}")
        _require_aware(run.validated_at, "validated_at")
        for outcome in run.expectations:
            if outcome.severity not in _SEVERITIES:
                raise ValueError(f"severity must be one of {_SEVERITIES}, got {outcome.severity!r}")
        t = self._t
        with self._errors(f"could not record run {run.run_id}"), self._engine.begin() as conn:
            exists = conn.execute(select(t.runs.c.id).where(t.runs.c.run_id == run.run_id)).first()
            if exists is not None:
                raise SignalsError(f"validation history {self._where}: run {run.run_id} is already recorded")
            try:
                inserted = conn.execute(
                    t.runs.insert().values(
                        run_id=run.run_id,
                        table_name=run.table,
                        partition_date=run.partition,
                        suite=run.suite,
                        validated_at=run.validated_at,
                        outcome=run.outcome,
                        row_count=run.rows,
                        triggered_by=run.trigger,
                        data_docs=run.data_docs,
                    )
                )
            except IntegrityError as exc:  # recorded by another process since the check above
                raise SignalsError(
                    f"validation history {self._where}: run {run.run_id} is already recorded"
                ) from exc
            key = inserted.inserted_primary_key
            assert key is not None
            run_pk = key[0]
            if run.expectations:
                conn.execute(
                    t.expectations.insert(),
                    [
                        {
                            "run_pk": run_pk,
                            "position": position,
                            "expectation": e.expectation,
                            "column_name": e.column,
                            "severity": e.severity,
                            "success": e.success,
                            "observed": e.observed,
                            "threshold": e.threshold,
                        }
                        for position, e in enumerate(run.expectations)
                    ],
                )
            stats = [
                {"run_pk": run_pk, "signal": signal, "metric": metric, "value": _finite_or_none(value)}
                for signal, metrics in run.stats.items()
                for metric, value in metrics.items()
            ]
            if stats:
                conn.execute(
                    t.stats.insert(), [{**row, "position": position} for position, row in enumerate(stats)]
                )

    def record_release(self, release: Release) -> None:
        """Store who released which quarantined run, and whether that overrode the gate."""
        _require_aware(release.released_at, "released_at")
        with (
            self._errors(f"could not record the release of run {release.run_id}"),
            self._engine.begin() as conn,
        ):
            conn.execute(
                self._t.releases.insert().values(
                    table_name=release.table,
                    partition_date=release.partition,
                    run_id=release.run_id,
                    released_at=release.released_at,
                    released_by=release.released_by,
                    override=release.override,
                    reason=release.reason,
                )
            )

    # -- reading ---------------------------------------------------------------------------------

    def runs(
        self, table: str | None = None, partition: date | None = None, limit: int | None = None
    ) -> list[ValidationRun]:
        """Runs matching the filters, newest first (``validated_at`` descending)."""
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        runs = self._t.runs
        query = select(runs).order_by(runs.c.validated_at.desc(), runs.c.id.desc())
        if table is not None:
            query = query.where(runs.c.table_name == table)
        if partition is not None:
            query = query.where(runs.c.partition_date == partition)
        if limit is not None:
            query = query.limit(limit)
        with self._errors("could not read runs"), self._engine.connect() as conn:
            return self._load(conn, query)

    def latest_by_table(self) -> dict[str, ValidationRun]:
        """The newest run of every table that has one, by table name (sorted)."""
        runs = self._t.runs
        ranked = select(
            runs.c.id,
            func.row_number()
            .over(partition_by=runs.c.table_name, order_by=(runs.c.validated_at.desc(), runs.c.id.desc()))
            .label("rank"),
        ).subquery()
        query = (
            select(runs)
            .where(runs.c.id.in_(select(ranked.c.id).where(ranked.c.rank == 1)))
            .order_by(runs.c.table_name)
        )
        with self._errors("could not read runs"), self._engine.connect() as conn:
            return {run.table: run for run in self._load(conn, query)}

    def releases(self, table: str | None = None) -> list[Release]:
        """Releases, newest first (``released_at`` descending)."""
        t = self._t.releases
        query = select(t).order_by(t.c.released_at.desc(), t.c.id.desc())
        if table is not None:
            query = query.where(t.c.table_name == table)
        with self._errors("could not read releases"), self._engine.connect() as conn:
            return [
                Release(
                    table=row.table_name,
                    partition=row.partition_date,
                    run_id=row.run_id,
                    released_at=row.released_at,
                    released_by=row.released_by,
                    override=bool(row.override),
                    reason=row.reason,
                )
                for row in conn.execute(query)
            ]

    def _load(self, conn: Connection, query: Select[Any]) -> list[ValidationRun]:
        """Whole runs for a query of run rows, in that query's order.

        Children are read for the ids the first query returned, in chunks: re-running the query as
        a subquery could see a run committed in between, and one huge IN list could exceed a
        database's limit on bound parameters.
        """
        t = self._t
        rows = conn.execute(query).all()
        expectations: dict[int, list[ExpectationOutcome]] = {}
        stats: dict[int, dict[str, dict[str, float | None]]] = {}
        pks = [row.id for row in rows]
        for start in range(0, len(pks), _CHUNK):
            chunk = pks[start : start + _CHUNK]
            for row in conn.execute(
                select(t.expectations)
                .where(t.expectations.c.run_pk.in_(chunk))
                .order_by(t.expectations.c.run_pk, t.expectations.c.position)
            ):
                expectations.setdefault(row.run_pk, []).append(
                    ExpectationOutcome(
                        expectation=row.expectation,
                        column=row.column_name,
                        severity=row.severity,
                        success=bool(row.success),
                        observed=row.observed,
                        threshold=row.threshold,
                    )
                )
            for row in conn.execute(
                select(t.stats)
                .where(t.stats.c.run_pk.in_(chunk))
                .order_by(t.stats.c.run_pk, t.stats.c.position)
            ):
                stats.setdefault(row.run_pk, {}).setdefault(row.signal, {})[row.metric] = row.value
        return [
            ValidationRun(
                run_id=row.run_id,
                table=row.table_name,
                partition=row.partition_date,
                suite=row.suite,
                validated_at=row.validated_at,
                outcome=row.outcome,
                rows=row.row_count,
                stats=stats.get(row.id, {}),
                expectations=tuple(expectations.get(row.id, ())),
                trigger=row.triggered_by,
                data_docs=row.data_docs,
            )
            for row in rows
        ]

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection pool. Further calls raise :class:`SignalsError`."""
        if not self._closed:
            self._engine.dispose()
            self._closed = True

    def __enter__(self) -> ValidationHistory:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _require_aware(value: datetime, name: str) -> None:
    # A naive time is ambiguous (local? UTC?); guessing would silently shift the history.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")


def _finite_or_none(value: float | None) -> float | None:
    """NaN becomes None: SQLite stores NaN as NULL anyway, so both engines read back the same."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def open_history(config: PlatformConfig) -> ValidationHistory:
    return ValidationHistory(config.quality_history_url)
