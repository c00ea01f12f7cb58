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
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError, StatementError

from bot.app import Services
from storage.db import make_engine, make_session_factory, transaction
from storage.inbound import InboundRecord, claim_inbound
from storage.models import InboundMessageRow
from storage.people import venue_by_key
from storage.prepared import _compile, inserted_id, run
from storage.scores import _STATE_AND_SHEET, _TOTALS, record_sheet

NOW = datetime(2026, 3, 26, 1, 30, 15, 123456, tzinfo=UTC)


def test_rows_read_on_the_driver_equal_sqlalchemys(sqlite_services: Services) -> None:
    with transaction(sqlite_services.factory) as session:
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
    assert _compile(sqlite_services.engine.dialect, _STATE_AND_SHEET, tuple(params)) is not None
    with transaction(sqlite_services.factory) as session:
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
        first = inserted_id(session, statement, {"name": "a"})
        second = inserted_id(session, statement, {"name": "b"})
    assert second == first + 1
    with transaction(factory) as session:  # the scalar default was applied
        assert run(session, select(table.c.note), {}).all() == [("无",), ("无",)]
    with pytest.raises(IntegrityError), transaction(factory) as session:
        inserted_id(session, statement, {"name": "a"})
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
