"""Client-side deadlines for PostgreSQL statements: a server that stops answering must cost a
request seconds, not forever.

``statement_timeout`` runs on the server, so it cannot help when the server (or a proxy or
firewall in front of it) stops answering while the TCP connection stays up: psycopg then
waits on its socket with no limit. A watchdog thread keeps each connection's deadline while
it talks to the server (a statement, a commit or rollback, a pre-ping) and, once a deadline
passes, shuts the socket down. psycopg then fails at once with "server closed the
connection", SQLAlchemy drops that connection from the pool, the transaction answers
``StorageUnavailable`` (503), and the next checkout opens a fresh connection: the service
recovers by itself when the server answers again.

On MySQL/MariaDB PyMySQL's socket read and write timeouts do the same for statements; the
watchdog still keeps the pre-ping short there.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError

log = logging.getLogger("edubot.storage")

_TICK_S = 0.05


class _Watchdog:
    """Deadlines by connection; one daemon thread for the process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[int, tuple[float, int]] = {}  # id(dbapi conn) → (deadline, fd)
        self._thread: threading.Thread | None = None

    def arm(self, dbapi_connection: Any, seconds: float) -> None:
        try:
            # psycopg has fileno(); PyMySQL keeps its socket in _sock.
            sock = getattr(dbapi_connection, "_sock", None)
            fd = int(sock.fileno() if sock is not None else dbapi_connection.fileno())
        except Exception:  # closed or broken already: nothing to watch
            return
        if fd < 0:
            return
        with self._lock:
            self._due[id(dbapi_connection)] = (time.monotonic() + seconds, fd)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-deadlines", daemon=True)
                self._thread.start()

    def disarm(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._due.pop(id(dbapi_connection), None)

    def armed(self, dbapi_connection: Any) -> bool:
        """Whether ``dbapi_connection`` has a deadline now (tests)."""
        return self.left(dbapi_connection) is not None

    def left(self, dbapi_connection: Any) -> float | None:
        """Seconds until ``dbapi_connection``'s deadline; None without one (tests)."""
        with self._lock:
            due = self._due.get(id(dbapi_connection))
        return None if due is None else due[0] - time.monotonic()

    def _run(self) -> None:
        while True:
            time.sleep(_TICK_S)
            now = time.monotonic()
            with self._lock:
                late = [key for key, (due, _) in self._due.items() if due <= now]
                fds = [self._due.pop(key)[1] for key in late]
            for fd in fds:
                _cut(fd)


def _cut(fd: int) -> None:
    """Shut the connection's socket down (both ways) without closing its descriptor, which
    still belongs to psycopg."""
    try:
        with socket.socket(fileno=socket.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return
    log.warning("database did not answer in time: connection cut, it will be replaced")


_WATCHDOG = _Watchdog()


PING_S = 0.5
"""A pre-ping is one tiny round trip; past this the pool opens a fresh connection instead,
which leaves a request room for ``connect_timeout`` within WeCom's patience."""


def guard_statements(engine: Engine, seconds: float) -> None:
    """Give every round trip on ``engine``'s connections ``seconds`` to complete: each
    statement, commit and rollback (also the pool's reset on return); a pre-ping gets
    ``PING_S``."""

    def arm(conn: Any, _cursor: Any, _sql: str, params: Any, _context: Any, many: bool) -> None:
        # A pipeline (``executemany``) runs each of its statements under the server's
        # statement_timeout: it gets the time of them all.
        runs = len(params) if many and params else 1
        _WATCHDOG.arm(conn.connection.dbapi_connection, seconds * runs)

    def disarm(conn: Any, *_: Any) -> None:
        _WATCHDOG.disarm(conn.connection.dbapi_connection)

    def disarm_error(context: Any) -> None:
        connection = context.connection
        if connection is not None and not connection.invalidated:
            _WATCHDOG.disarm(connection.connection.dbapi_connection)

    def forget(dbapi_connection: Any, *_: Any) -> None:
        # A connection dropped while armed (its statement failed and the pool threw it
        # away): without this its deadline would outlive it and cut whatever socket reuses
        # its descriptor number, typically the pool's next connection.
        _WATCHDOG.disarm(dbapi_connection)

    event.listen(engine, "before_cursor_execute", arm)
    event.listen(engine, "after_cursor_execute", disarm)
    event.listen(engine, "handle_error", disarm_error)
    event.listen(engine, "invalidate", forget)
    dialect = engine.dialect
    # Commits, rollbacks and pings go straight to the DBAPI connection, past the events.
    for name in ("do_commit", "do_rollback"):
        setattr(dialect, name, _guarded(getattr(dialect, name), seconds))
    ping = _guarded(dialect.do_ping, min(seconds, PING_S))
    setattr(dialect, "do_ping", ping)  # noqa: B010 - mypy refuses assigning to a method


def _guarded(call: Callable[[Any], Any], seconds: float) -> Callable[[Any], Any]:
    def guarded(dbapi_connection: Any) -> Any:
        # The pool hands the dialect a wrapper; the socket is the driver connection's.
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        _WATCHDOG.arm(raw, seconds)
        try:
            return call(dbapi_connection)
        finally:
            _WATCHDOG.disarm(raw)

    return guarded


IDLE_PING_S = 1.0
"""A connection back in the pool for longer than this is pinged before it is handed out."""


def ping_when_idle(engine: Engine, idle_s: float = IDLE_PING_S) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for a connection that has been idle in the
    pool for more than ``idle_s``; one used a moment ago is handed out as it is.

    Under load a scoring batch checks a connection out every few milliseconds, and a
    pre-ping is one round trip of the ~six a batch costs beyond its messages. A connection
    that died within the last second fails its first statement instead: SQLAlchemy drops
    it from the pool and the message is answered 503, to be retried (as when the server
    goes away in the middle of a transaction). A dead connection found by the ping is
    replaced before use, with every connection opened before it (``InvalidatePoolError``)."""

    def rested(_dbapi_connection: Any, record: Any) -> None:
        # Opened (no ping before its first use) or back in the pool.
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since <= idle_s:
            return
        # As pool_pre_ping: a failed ping (the server restarted, say) also retires every
        # connection opened before this one, and the pool connects again.
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError(f"ping failed: {exc}") from exc
        if not alive:
            raise InvalidatePoolError("ping failed")

    event.listen(engine, "connect", rested)
    event.listen(engine, "checkin", rested)
    event.listen(engine, "checkout", checked_out)
