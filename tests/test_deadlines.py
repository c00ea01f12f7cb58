"""Client-side deadlines (``storage.deadlines``): a connection the pool throws away while its
statement is armed takes its deadline with it, so the watchdog never cuts the socket that
reuses its descriptor number."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine
from storage.deadlines import _WATCHDOG

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
