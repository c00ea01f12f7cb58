"""Client-side deadlines (``storage.deadlines``): a connection the pool throws away while its
statement is armed takes its deadline with it, so the watchdog never cuts the socket that
reuses its descriptor number; and only a connection idle in the pool for a while is pinged
before use."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from storage.db import make_engine
from storage.deadlines import _WATCHDOG, IDLE_PING_S

pytestmark = pytest.mark.parametrize(
    "db_url",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
    indirect=True,
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    made = make_engine(db_url)
    yield made
    made.dispose()


def test_an_invalidated_connection_leaves_no_deadline_behind(engine: Engine) -> None:
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        _WATCHDOG.arm(raw, 30)  # as before a statement that then failed
        assert _WATCHDOG.armed(raw)
        connection.invalidate()
        assert not _WATCHDOG.armed(raw)


def test_a_statement_disarms_its_connection(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        assert not _WATCHDOG.armed(connection.connection.dbapi_connection)


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each ping the pool sends, by driver connection."""
    seen: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        seen.append(dbapi_connection)
        return bool(ping(dbapi_connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def _server_id(engine: Engine) -> int:
    """The server's id of the connection the pool hands out (checked back in after)."""
    query = (
        "SELECT pg_backend_pid()"
        if engine.dialect.name == "postgresql"
        else "SELECT CONNECTION_ID()"
    )
    with engine.connect() as connection:
        return int(connection.execute(text(query)).scalar_one())


def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(
    engine: Engine, pings: list[object]
) -> None:
    first = _server_id(engine)  # a fresh connection: not pinged either
    assert [_server_id(engine) for _ in range(3)] == [first] * 3
    assert pings == []


def test_a_connection_idle_past_a_second_is_pinged_and_replaced_when_dead(
    engine: Engine, pings: list[object]
) -> None:
    first = _server_id(engine)
    time.sleep(IDLE_PING_S + 0.2)
    assert _server_id(engine) == first  # alive: pinged, then handed out
    assert len(pings) == 1
    kill = (
        f"SELECT pg_terminate_backend({first})"
        if engine.dialect.name == "postgresql"
        else f"KILL {first}"
    )
    other = make_engine(str(engine.url.render_as_string(hide_password=False)))
    with other.connect() as connection:
        connection.execute(text(kill))
    other.dispose()
    time.sleep(IDLE_PING_S + 0.2)
    assert _server_id(engine) != first  # the ping found it dead: a new one, no error
    assert len(pings) == 2


def test_a_pipeline_has_the_time_of_all_its_statements(engine: Engine) -> None:
    """Each statement of an ``executemany`` runs under the server's own timeout, so the
    client's deadline for the whole is that many times one statement's."""
    left: list[float] = []

    def seen(conn: Any, *_: Any) -> None:
        left.append(_WATCHDOG.left(conn.connection.dbapi_connection) or 0.0)

    event.listen(engine, "before_cursor_execute", seen)  # after the guard's: it sees the deadline
    with engine.begin() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE piped (n INTEGER)"))
        connection.execute(text("INSERT INTO piped (n) VALUES (:n)"), [{"n": n} for n in range(3)])
    one, three = left[0], left[1]
    assert 2.0 < one <= 2.25  # the 2 s statement timeout and a quarter second
    assert 3 * one - 0.5 < three <= 3 * 2.25
