"""Connection leases: one holder per name, renewal, takeover after expiry, release; and the
migration that adds them, applied to a database made by the previous head."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FakeClock
from bot.connections.lease import DatabaseLease
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.leases import claim_lease, release_lease
from storage.models import Meta

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=20)


def claim(factory: sessionmaker[Session], holder: str, now: datetime) -> str | None:
    with transaction(factory) as session:
        return claim_lease(session, "wecom-robot:b", holder, now=now, ttl=TTL)


def test_the_first_claim_wins_and_the_other_sees_who_holds_it(
    factory: sessionmaker[Session],
) -> None:
    assert claim(factory, "a", T0) is None
    assert claim(factory, "b", T0 + timedelta(seconds=1)) == "a"


def test_a_renewed_lease_is_kept_an_abandoned_one_is_taken_over(
    factory: sessionmaker[Session],
) -> None:
    assert claim(factory, "a", T0) is None
    assert claim(factory, "a", T0 + timedelta(seconds=15)) is None  # renewed to +35 s
    assert claim(factory, "b", T0 + timedelta(seconds=34)) == "a"
    assert claim(factory, "b", T0 + timedelta(seconds=36)) is None  # a stopped renewing
    assert claim(factory, "a", T0 + timedelta(seconds=37)) == "b"


def test_release_frees_the_lease_at_once_but_only_for_its_holder(
    factory: sessionmaker[Session],
) -> None:
    assert claim(factory, "a", T0) is None
    with transaction(factory) as session:
        release_lease(session, "wecom-robot:b", "b")  # not b's to release
    assert claim(factory, "b", T0) == "a"
    with transaction(factory) as session:
        release_lease(session, "wecom-robot:b", "a")
    assert claim(factory, "b", T0) is None


def test_database_lease_reports_an_unreachable_database_as_not_held(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    lease = DatabaseLease(make_session_factory(engine), "n", "a", clock=FakeClock(T0), ttl=TTL)
    try:
        assert lease.acquire() == "unknown (database unavailable)"
        lease.release()  # logged, not raised
    finally:
        engine.dispose()


@pytest.mark.empty_db
def test_the_migration_upgrades_a_database_made_by_the_previous_head(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0003")  # the previous head
        assert "connection_leases" not in inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(update(Meta).where(Meta.key == "catalog").values(value=7))
        upgrade(engine)
        engine.dispose()
        assert "connection_leases" in inspect(engine).get_table_names()
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            assert session.scalar(select(Meta.value).where(Meta.key == "catalog")) == 7
        assert claim(factory, "a", T0) is None
    finally:
        engine.dispose()


def test_a_holder_keeps_its_lease_through_a_database_outage_until_it_runs_out(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lease.db'}")
    upgrade(engine)
    clock = FakeClock(T0)
    lease = DatabaseLease(make_session_factory(engine), "n", "a", clock=clock, ttl=TTL)
    try:
        assert lease.acquire() is None
        engine.dispose()
        (tmp_path / "lease.db").rename(tmp_path / "gone.db")
        (tmp_path / "lease.db").mkdir()  # the path now cannot be opened as a database
        clock.advance(10)
        assert lease.acquire() is None  # renewed at T0 until T0 + 20 s
        clock.advance(11)
        assert lease.acquire() == "unknown (database unavailable)"
    finally:
        engine.dispose()
