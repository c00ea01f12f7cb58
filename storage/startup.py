"""One instance at a time through start-up (migrations, then the config sync).

Instances started together on a fresh database would otherwise all run the migrations at
once (PostgreSQL: ``UniqueViolation`` on ``pg_type``; MariaDB: "table already exists") and
then insert the same people. A lock held in the database itself lets the first one migrate
and sync while the others wait, then find nothing left to do. The lock is polled with
instant ``try`` calls, so no statement waits past the statement timeout, and it belongs to a
connection of its own: if the instance dies, the server frees it.

SQLite needs none: every transaction there begins ``IMMEDIATE`` and waits its turn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from storage.db import one_line
from storage.errors import StorageUnavailable

_KEY = 0x6564_7562_6F74  # "edubot", the PostgreSQL advisory lock's key
_NAME = "edubot_startup"  # the MariaDB named lock
_POLL_S = 0.05


@contextmanager
def startup_lock(engine: Engine, *, timeout_s: float = 120.0) -> Iterator[None]:
    """Hold the database-wide start-up lock (PostgreSQL, MariaDB) for the ``with`` body."""
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        take = text("SELECT pg_try_advisory_lock(:key)").bindparams(key=_KEY)
        drop = text("SELECT pg_advisory_unlock(:key)").bindparams(key=_KEY)
    elif backend in ("mysql", "mariadb"):
        take = text("SELECT GET_LOCK(:name, 0)").bindparams(name=_NAME)
        drop = text("SELECT RELEASE_LOCK(:name)").bindparams(name=_NAME)
    else:
        yield
        return
    try:
        connection = engine.connect()
    except DBAPIError as exc:  # unreachable: one line at start-up, not a traceback
        where = engine.url.render_as_string(hide_password=True)
        raise StorageUnavailable(f"{where}: {one_line(exc.orig)}") from exc
    with connection:
        deadline = time.monotonic() + timeout_s
        while not connection.execute(take).scalar():
            connection.rollback()  # wait outside a transaction (MVCC snapshots, row locks)
            if time.monotonic() > deadline:
                raise StorageUnavailable(f"another instance held the start-up lock {timeout_s} s")
            time.sleep(_POLL_S)
        connection.rollback()
        try:
            yield
        finally:
            connection.execute(drop)
            connection.rollback()
