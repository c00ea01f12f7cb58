"""Engines, sessions and schema upgrades.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: a writer takes the lock up front instead of failing to upgrade a read
lock halfway through (which ``busy_timeout`` cannot retry). PostgreSQL URLs use psycopg 3 and
MySQL/MariaDB URLs use PyMySQL unless a driver is named.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import CursorResult, Engine, Executable, Insert, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import Pool, QueuePool

from storage import prepared
from storage.deadlines import guard_statements, ping_when_idle
from storage.errors import MissingDriver, StorageUnavailable, WriterBusy
from storage.filelock import WriterFileLock, lock_path

MIGRATIONS = Path(__file__).with_name("migrations")
READ_ONLY = "edubot_read_only"
"""Execution option: this connection only reads (on SQLite: a deferred BEGIN, no write lock)."""


def normalize_url(url: str) -> str:
    """Pick the driver we ship for bare ``postgresql://`` and ``mysql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername="mysql+pymysql")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


def make_engine(
    url: str,
    *,
    busy_timeout_ms: int = 5000,
    sqlite_synchronous: str = "FULL",
    connect_timeout_s: int = 2,
    statement_timeout_ms: int = 2000,
    **kwargs: Any,
) -> Engine:
    """An engine configured for edubot's access pattern on any of the three databases.

    On SQLite every commit is synced to disk (``sqlite_synchronous="FULL"``) unless told
    ``"NORMAL"``.

    On PostgreSQL and MariaDB, opening a connection gives up after ``connect_timeout_s``,
    waiting for a free pooled one after the same, and a statement after
    ``statement_timeout_ms`` both on the server and on this side of the socket
    (``storage.deadlines``), so a server that stops answering costs a request seconds.

    MariaDB runs at READ COMMITTED, as PostgreSQL does by default: each statement sees what
    is committed when it starts. At InnoDB's REPEATABLE READ a message would read, to its
    end, the snapshot of its first statement: a 加选手 committed meanwhile unseen by the
    score that completes the venue, say (``tests/test_completion_races.py``).
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_ms, sqlite_synchronous, **kwargs)
    seconds = statement_timeout_ms / 1000
    if parsed.get_backend_name() == "postgresql":
        # Added to the URL's own options (e.g. a search_path), which connect_args would replace.
        options = f"{parsed.query.get('options', '')} -c statement_timeout={statement_timeout_ms}"
        connect_args = {"connect_timeout": max(2, connect_timeout_s), "options": options.strip()}
    else:  # PyMySQL: socket timeouts of its own
        connect_args = {
            "connect_timeout": connect_timeout_s,
            "read_timeout": seconds,
            "write_timeout": seconds,
        }
    connect_args.update(kwargs.pop("connect_args", {}))
    kwargs.setdefault("pool_timeout", connect_timeout_s)
    if parsed.get_backend_name() == "mysql":
        kwargs.setdefault("isolation_level", "READ COMMITTED")  # as PostgreSQL's default
    try:
        engine = create_engine(url, connect_args=connect_args, **kwargs)
    except ModuleNotFoundError as exc:
        raise MissingDriver(missing_driver_text(parsed.get_backend_name(), exc.name)) from exc
    # A live server's own statement_timeout answers first and keeps the connection.
    guard_statements(engine, seconds + 0.25)
    ping_when_idle(engine)
    return engine


def _sqlite_engine(
    url: str, busy_timeout_ms: int, sqlite_synchronous: str, **kwargs: Any
) -> Engine:
    """``make_engine`` for SQLite: the file's folder made, the pragmas set on every
    connection, and the engine's writers' queue (with its file lock for a file)."""
    database = None if sqlite_in_memory(url) else make_url(url).database
    if database is not None:
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create the folder {folder}: {exc}") from exc
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        **kwargs,
    )
    _sqlite_pragmas(engine, busy_timeout_ms, sqlite_synchronous)
    file_lock = None if database is None else WriterFileLock(lock_path(database))
    _WRITERS[engine] = _WriterQueue(busy_timeout_ms / 1000, file_lock)
    return engine


def sqlite_in_memory(url: str) -> bool:
    """The URL names an SQLite database in memory (``sqlite://``, ``sqlite:///:memory:``)."""
    parsed = make_url(normalize_url(url))
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


DRIVER_EXTRAS = {"postgresql": ("psycopg", "postgres"), "mysql": ("pymysql", "mysql")}
"""backend → (driver module, the edubot extra that installs it)."""


def missing_driver_text(backend: str, module: str | None) -> str:
    """``PostgreSQL 数据库需要 psycopg 驱动：pip install 'edubot[postgres]'`` (one line)."""
    driver, extra = DRIVER_EXTRAS.get(backend, (module or "?", ""))
    install = f"pip install 'edubot[{extra}]'" if extra else f"pip install {driver}"
    names = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
    return (
        f"{names.get(backend, backend)} 数据库需要 {module or driver} 驱动，尚未安装。"
        f"请运行：{install} / the {backend} driver is missing: {install}"
    )


class _WriterQueue:
    """SQLite takes one writer at a time, and makes the others poll: its busy handler sleeps
    1, 2, 5 … up to 100 ms between tries. Threads of one process that would all poll (every
    transaction here starts with BEGIN IMMEDIATE) wait on this lock instead and are woken
    the moment the writer before them finishes; then the processes on one file queue on its
    ``WriterFileLock`` (``storage.filelock``) the same way. Past the busy timeout the wait
    ends in ``StorageUnavailable``, as a lock held too long by another process does.

    ``turn_if_free`` takes both without waiting; the thread holding a turn that way runs its
    transactions inside it (``turn`` sees it and does not queue again)."""

    def __init__(self, timeout_s: float, file_lock: WriterFileLock | None = None) -> None:
        self._lock = threading.Lock()
        self._timeout_s = timeout_s
        self._file_lock = file_lock
        self._holder: int | None = None
        """The thread holding a turn taken by ``turn_if_free``."""

    @contextmanager
    def turn(self) -> Iterator[None]:
        if self.held_here():
            yield  # inside turn_if_free on this thread: the turn is already ours
            return
        if not self._lock.acquire(timeout=self._timeout_s):
            raise StorageUnavailable("database is busy: timed out waiting for other writers")
        try:
            if self._file_lock is None:
                yield
                return
            fd = self._file_lock.acquire(self._timeout_s)
            try:
                yield
            finally:
                self._file_lock.release(fd)
        finally:
            self._lock.release()

    def held_here(self) -> bool:
        """Whether this thread holds a turn taken by ``turn_if_free`` (the event loop): its
        BEGIN IMMEDIATE must not wait in SQLite's busy handler for a writer from outside."""
        return self._holder == threading.get_ident()

    @contextmanager
    def turn_if_free(self) -> Iterator[bool]:
        """The writers' turn if nobody (no thread, no process) holds it now: yields whether
        it was taken. Never waits."""
        if not self._lock.acquire(blocking=False):
            yield False
            return
        try:
            fd = self._file_lock.try_acquire() if self._file_lock is not None else None
            if self._file_lock is not None and fd is None:
                yield False
                return
            self._holder = threading.get_ident()
            try:
                yield True
            finally:
                self._holder = None
                if fd is not None and self._file_lock is not None:
                    self._file_lock.release(fd)
        finally:
            self._lock.release()


_WRITERS: WeakKeyDictionary[Engine, _WriterQueue] = WeakKeyDictionary()


def writer_turn(engine: Engine | None) -> AbstractContextManager[None]:
    """This engine's place in the writers' queue (SQLite); no wait for other databases.
    Every write on a SQLite file takes it (``writer_turn_if_free`` trusts that a free turn
    means SQLite's write lock is free too), including those outside ``transaction``."""
    writers = _WRITERS.get(engine) if engine is not None else None
    return writers.turn() if writers is not None else nullcontext()


def writer_turn_if_free(factory: sessionmaker[Session]) -> AbstractContextManager[bool]:
    """Yields True while this thread holds the writers' turn, taken because it was free:
    its transactions then start at once, without waiting on other writers or on the
    network. Only a SQLite database has such a turn; on a database server, where every
    statement is a round trip, this yields False."""
    engine = factory.kw.get("bind")
    writers = _WRITERS.get(engine)  # type: ignore[arg-type]
    if writers is None or not _connection_at_hand(engine.pool):  # type: ignore[union-attr]
        return nullcontext(False)
    return writers.turn_if_free()


def _connection_at_hand(pool: Pool) -> bool:
    """A connection can be had from ``pool`` without waiting for one to be returned: the
    turn is not free while, say, desk pages on threads hold every pooled connection."""
    if not isinstance(pool, QueuePool):
        return True  # an in-memory database's single connection
    limit = pool._max_overflow  # the most QueuePool opens beyond its size; not public
    return pool.checkedin() > 0 or limit < 0 or pool.overflow() < limit


SYNCHRONOUS = ("FULL", "NORMAL")


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int, synchronous: str) -> None:
    synchronous = synchronous.upper()
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"sqlite synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN IMMEDIATE works.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: WAL is synced at every commit, so an answered message survives a power cut
        # (NORMAL only survives the process dying). Cost: bench/durability.py, README.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A connection marked read_only (health checks) must work on a read-only file.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        writers = _WRITERS.get(conn.engine)
        if not read_only and writers is not None and writers.held_here():
            _begin_without_waiting(conn.connection.driver_connection, busy_timeout_ms)
            return
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _begin_without_waiting(raw: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE with no busy wait; ``WriterBusy`` if another writer holds the lock."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
            raise WriterBusy(f"another writer holds the database: {exc}") from exc
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine`` whose objects keep their loaded values after commit
    (``expire_on_commit=False``): reading them afterwards costs no query and needs no
    open transaction."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    A database that is locked past its busy timeout or unreachable becomes
    ``StorageUnavailable`` so the HTTP layer can answer 503 (the platform retries).
    """
    with writer_turn(factory.kw.get("bind")):
        session = factory()
        try:
            yield session
            session.commit()
        except (OperationalError, DBAPIError) as exc:
            session.rollback()
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise StorageUnavailable(one_line(exc.orig)) from exc
            raise
        except PoolTimeout as exc:  # every pooled connection busy past pool_timeout
            session.rollback()
            raise StorageUnavailable("no database connection free in time") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads (web pages): on SQLite a deferred ``BEGIN`` outside the
    writers' queue, so a page never waits for scoring messages nor holds them up. Nothing
    is committed; a database in trouble becomes ``StorageUnavailable``."""
    engine = factory.kw.get("bind")
    if not isinstance(engine, Engine):
        raise TypeError("reading() needs a session factory bound to an engine")
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            session = factory(bind=connection)
            try:
                yield session
            finally:
                session.close()
                connection.rollback()
    except (OperationalError, PoolTimeout) as exc:
        raise StorageUnavailable(one_line(getattr(exc, "orig", exc))) from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations shipped in ``storage/migrations``."""
    from alembic import command  # noqa: PLC0415 - heavy, only needed at start-up
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with writer_turn(engine), engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except DBAPIError as exc:
        # Unreachable, refused, read-only, not a database: say so in one line, without
        # the password, instead of a traceback through Alembic.
        where = engine.url.render_as_string(hide_password=True)
        raise StorageUnavailable(f"{where}: {one_line(exc.orig)}") from exc


def one_line(exc: BaseException | None) -> str:
    """A driver's message on one line (psycopg adds hints on lines of their own)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query (on SQLite, in the writers' queue:
    its transactions all begin IMMEDIATE)."""
    try:
        with writer_turn(engine), engine.connect() as db:
            db.execute(text("SELECT 1"))
    except (DBAPIError, StorageUnavailable):
        return False
    return True


def execute_core(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """Run a prebuilt Core ``statement`` on ``session``'s connection, in its transaction.

    For the statements every message runs: ``Session.execute`` adds ORM compile and result
    handling that costs more than SQLite takes to run them (~35 µs against ~15 µs here).
    Pending ORM changes are flushed first, as ``Session.execute`` would do.
    """
    session.flush()
    return session.connection().execute(statement, params)


def insert_id(session: Session, statement: Insert, values: dict[str, Any]) -> int:
    """Insert one row with a prebuilt Core ``statement`` in ``session``'s transaction and
    return its id (on SQLite through its driver, ``storage.prepared``: the row's
    ``lastrowid``, so the table needs an integer primary key)."""
    if session.get_bind().dialect.name == "sqlite":
        key: Any = prepared.run(session, statement, values).lastrowid
    else:
        found = execute_core(session, statement, values).inserted_primary_key
        key = None if found is None else found[0]
    if key is None:
        raise RuntimeError("the database returned no id for the inserted row")
    return int(key)
