"""Statements run straight on the SQLite driver (``storage.prepared``) read and write exactly
what SQLAlchemy's own path does: aware datetimes, exact decimals, JSON lists, booleans,
column defaults; driver errors arrive as SQLAlchemy's; and what SQLAlchemy must compute at
execution stays on SQLAlchemy's path."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from bot.app import Services
from storage import scores
from storage.db import insert_id, make_engine, make_session_factory, transaction
from storage.errors import RepeatDelivery
from storage.inbound import (
    _SETTLE,
    InboundRecord,
    Settled,
    claim_inbound,
    claim_inbounds_counting,
    settle_inbounds,
)
from storage.meta import CATALOG, counter
from storage.models import InboundMessageRow
from storage.people import venue_by_key
from storage.prepared import _compile, run
from storage.scores import _STATE_AND_SHEET, _TOTALS, record_sheet
from tests.conftest import POSTGRES_URL

NOW = datetime(2026, 3, 26, 1, 30, 15, 123456, tzinfo=UTC)


def test_rows_read_on_the_driver_equal_sqlalchemys(services: Services) -> None:
    """On every backend: SQLite and PostgreSQL on the driver, MariaDB through SQLAlchemy."""
    with transaction(services.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        judge, contestant = venue.judges[0].person_id, venue.contestants[0].id
        record_sheet(
            session,
            venue_id=venue.id,
            judge_id=judge,
            contestant_id=contestant,
            total=Decimal("85.50"),
            items=["18.5", "22", "17", "19", "9"],
            action="score",
            now=NOW,
            inbound_id=None,
            source="test",
        )
    params = {"venue": venue.id, "judge": judge, "contestant": contestant}
    dialect = services.engine.dialect
    if dialect.name != "mysql":
        assert _compile(dialect, _STATE_AND_SHEET, tuple(params)) is not None
    with transaction(services.factory) as session:
        fast = run(session, _STATE_AND_SHEET, params).one()
        orm = tuple(session.execute(_STATE_AND_SHEET, params).one())
        totals = run(session, _TOTALS, {"venue": venue.id, "contestant": contestant}).all()
    assert fast == orm
    completed, published, auto, _id, total, items, revision, confirmed = fast
    assert (completed, published, confirmed) == (None, None, None)
    assert auto is False
    assert total == Decimal("85.50")
    assert str(total) == "85.50"  # exact, not a float
    assert items == ["18.5", "22", "17", "19", "9"]
    assert revision == 1
    assert totals == [(judge, Decimal("85.50"), None)]


def test_datetimes_keep_their_instant_and_naive_ones_are_refused(
    sqlite_services: Services,
) -> None:
    record = InboundRecord("wecom", "prep-1", "wecom_app", "shenyi", "hi", "")
    with transaction(sqlite_services.factory) as session:
        claim_inbound(session, record, NOW)
    with transaction(sqlite_services.factory) as session:
        row = session.scalars(select(InboundMessageRow)).one()
        assert row.received_at == NOW
    naive = NOW.replace(tzinfo=None)
    with (
        pytest.raises(StatementError, match="naive datetime"),
        transaction(sqlite_services.factory) as session,
    ):
        claim_inbound(session, InboundRecord("wecom", "prep-2", "wecom_app", "x", "", ""), naive)


def test_driver_errors_are_sqlalchemys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/p.db")
    metadata = MetaData()
    table = Table(
        "things",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(20), unique=True, nullable=False),
        Column("note", String(20), nullable=False, default="无"),
    )
    metadata.create_all(engine)
    factory = make_session_factory(engine)
    statement = insert(table)
    with transaction(factory) as session:
        first = insert_id(session, statement, {"name": "a"})
        second = insert_id(session, statement, {"name": "b"})
    assert second == first + 1
    with transaction(factory) as session:  # the scalar default was applied
        assert run(session, select(table.c.note), {}).all() == [("无",), ("无",)]
    with pytest.raises(IntegrityError), transaction(factory) as session:
        insert_id(session, statement, {"name": "a"})
    engine.dispose()


def test_what_sqlalchemy_computes_at_execution_stays_with_sqlalchemy() -> None:
    engine = make_engine("sqlite://")
    numbers = itertools.count()
    table = Table(
        "stamped",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("stamp", String(20), default=lambda: f"n{next(numbers)}"),
    )
    assert _compile(engine.dialect, insert(table), ("id",)) is None
    assert _compile(engine.dialect, select(table.c.id), ()) is not None
    engine.dispose()


_WRITES = [
    (
        "_NEW_SHEET",
        {
            "forum_id": 1,
            "judge_id": 2,
            "contestant_id": 3,
            "total": Decimal("1E+2"),
            "items": None,
            "updated_at": NOW,
            "confirmed_at": None,
            "revision": 1,
        },
    ),
    (
        "_REVISE_SHEET",
        {
            "sheet": 1,
            "revision": 2,
            "total": Decimal("85.50"),
            "items": ["18.5", "22"],
            "updated_at": NOW,
            "confirmed_at": NOW,
        },
    ),
    ("_CONFIRM_SHEET", {"sheet": 1, "confirmed": NOW}),
    ("_TALLY", {"venue": 1, "judge": 2}),
]


@pytest.mark.parametrize(("name", "params"), _WRITES, ids=[name for name, _ in _WRITES])
def test_a_write_sends_the_driver_what_sqlalchemy_sends(
    sqlite_services: Services, name: str, params: dict[str, object]
) -> None:
    """The SQL and each converted value (decimal text, naive UTC, JSON ``null`` for None)
    as SQLAlchemy's own execution would pass them to the driver."""
    statement = getattr(scores, name)
    sent: list[tuple[str, tuple[object, ...]]] = []

    def capture(_c: object, _cur: object, sql: str, args: tuple[object, ...], *_: object) -> None:
        if not sql.startswith("BEGIN"):
            sent.append((sql, tuple(args)))

    engine = sqlite_services.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as connection:
            connection.execute(statement, params)
            connection.rollback()
        assert len(sent) == 1
        with transaction(sqlite_services.factory) as session:
            run(session, statement, params)
            session.rollback()
        assert len(sent) == 1  # run on the driver's cursor, past SQLAlchemy's events
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    plan = _compile(engine.dialect, statement, tuple(params))
    assert plan is not None
    values = plan.compiled.construct_params(params)
    args = tuple(
        values[n] if f is None else f(values[n])
        for n, f in zip(plan.names, plan.binds, strict=True)
    )
    assert (plan.sql, args) == sent[0]


def _claimed(services: Services, *ids: str) -> list[int]:
    with transaction(services.factory) as session:
        return [
            claim_inbound(session, InboundRecord("wecom", i, "wecom_app", "shenyi", "hi"), NOW)
            for i in ids
        ]


def _stored(services: Services) -> list[tuple[int, str, str]]:
    with transaction(services.factory) as session:
        rows = session.execute(
            select(
                InboundMessageRow.id, InboundMessageRow.status, InboundMessageRow.reply_text
            ).order_by(InboundMessageRow.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_an_update_reports_the_rows_it_matched(services: Services) -> None:
    """On every backend (psycopg forgets the count when its cursor closes)."""
    [row] = _claimed(services, "count-1")
    with transaction(services.factory) as session:
        matched = run(session, _SETTLE, {"inbound": row, "status": "ok", "reply": "好"})
        missed = run(session, _SETTLE, {"inbound": row + 99, "status": "ok", "reply": "无"})
    assert (matched.rowcount, missed.rowcount) == (1, 0)
    assert _stored(services) == [(row, "ok", "好")]


def test_several_runs_of_a_statement_each_apply_their_own_values(services: Services) -> None:
    rows = _claimed(services, "many-1", "many-2", "many-3")
    answers = [Settled(row, status, f"答{row}") for row, status in zip(rows, "abc", strict=True)]
    with transaction(services.factory) as session:
        settle_inbounds(session, answers)
        settle_inbounds(session, [])  # nothing to store: no statement
    assert _stored(services) == [(a.inbound_id, a.status, a.reply_text) for a in answers]


@pytest.fixture
def pg_services(services: Services) -> Services:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: claims return the catalog's counter there")
    return services


def test_claims_run_together_return_each_ones_row_and_the_counter(pg_services: Services) -> None:
    records = [InboundRecord("wecom", f"batch-{i}", "wecom_app", "shenyi", "hi") for i in range(3)]
    sent: list[tuple[str, object, bool]] = []

    def capture(*args: object) -> None:
        sent.append((str(args[2]), args[3], bool(args[5])))

    event.listen(pg_services.engine, "before_cursor_execute", capture)
    try:
        with transaction(pg_services.factory) as session:
            generation = counter(session, CATALOG)
            sent.clear()
            claimed = claim_inbounds_counting(
                session, [(r, None) for r in records], NOW, counter=CATALOG
            )
    finally:
        event.remove(pg_services.engine, "before_cursor_execute", capture)
    assert [g for _, g in claimed] == [generation] * 3
    assert [row for row, _ in claimed] == [row for row, _, _ in _stored(pg_services)]
    [(sql, params, many)] = sent  # one statement, run for each: one round trip (a pipeline)
    assert sql.startswith("INSERT INTO inbound_messages")
    assert many
    assert [p["message_id"] for p in params] == ["batch-0", "batch-1", "batch-2"]  # type: ignore[attr-defined]
    fresh = InboundRecord("wecom", "batch-new", "wecom_app", "shenyi", "hi")
    with pytest.raises(RepeatDelivery, match="batch-1"), transaction(pg_services.factory) as s:
        claim_inbounds_counting(s, [(fresh, None), (records[1], None)], NOW, counter=CATALOG)
    assert len(_stored(pg_services)) == 3  # the new one's claim rolled back with the repeat


def test_a_connection_lost_under_a_statement_on_the_driver_leaves_the_pool(
    pg_services: Services,
) -> None:
    """As on SQLAlchemy's path: its error, the connection invalidated, the next one fresh."""
    [row] = _claimed(pg_services, "lost-1")
    params = {"inbound": row, "status": "ok", "reply": "好"}
    with pg_services.factory() as session:
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        admin = make_engine(POSTGRES_URL)
        with admin.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)})")
        admin.dispose()
        with pytest.raises(OperationalError) as lost:
            run(session, _SETTLE, params)
    assert lost.value.connection_invalidated
    with transaction(pg_services.factory) as session:
        assert run(session, _SETTLE, params).rowcount == 1
    assert _stored(pg_services) == [(row, "ok", "好")]
