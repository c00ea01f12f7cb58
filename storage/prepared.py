"""The statements every scoring message runs, straight on the driver (SQLite, PostgreSQL).

SQLAlchemy's execution path (execution context, cursor events, result metadata) costs
~30–40 µs a statement on SQLite against ~2–3 µs for the same statement on the ``sqlite3``
cursor, and on PostgreSQL ~110 µs of CPU a statement beyond psycopg's own ~60 µs
(``bench/`` and README §Benchmarks); a score runs a few of them, on SQLite while it holds
the only writer's turn. So a prebuilt Core statement is compiled once by SQLAlchemy — the
SQL text, its parameters, and the types' own bind and result processors (datetimes,
decimals, JSON) — and then run on the driver's cursor in the session's transaction.
Nothing is written by hand: the SQL and the conversions are SQLAlchemy's, so a row reads
and writes exactly as through the ORM.

On PostgreSQL the engine's cursor events still fire around the statement, as on
SQLAlchemy's path: the statement's client-side deadline (``storage.deadlines``) hangs on
them. A driver error there goes through SQLAlchemy's own handling, so a lost connection is
dropped from the pool as it would be.

A statement SQLAlchemy would add to at execution (a column default computed in Python,
parameters expanded at execution) is not eligible and runs through SQLAlchemy as before;
so does everything on MariaDB. Driver errors become SQLAlchemy's (``IntegrityError``,
``OperationalError``), so callers catch the same exceptions either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


class Rows:
    """A statement's rows as plain tuples, read in full (the hot statements read a few)."""

    __slots__ = ("_rows", "lastrowid", "rowcount")

    def __init__(
        self, rows: Sequence[tuple[Any, ...]], *, lastrowid: int | None, rowcount: int = -1
    ) -> None:
        self._rows = rows
        self.lastrowid = lastrowid
        self.rowcount = rowcount
        """Rows an UPDATE or DELETE matched, as the driver counts them (for other
        statements what it reports varies by driver)."""

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)

    def all(self) -> list[tuple[Any, ...]]:
        """Every row."""
        return list(self._rows)

    def first(self) -> tuple[Any, ...] | None:
        """The first row; None without any."""
        return self._rows[0] if self._rows else None

    def one(self) -> tuple[Any, ...]:
        """The only row; ``LookupError`` unless there is exactly one."""
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        """The first column of the first row; None without any row."""
        first = self.first()
        return None if first is None else first[0]


@dataclass(frozen=True, slots=True)
class _Plan:
    compiled: SQLCompiler
    sql: str
    names: tuple[str, ...]
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...] | None
    """None: the rows need no conversion."""
    named: bool
    """The driver takes the parameters by name (psycopg's ``%(name)s``), not by position."""
    returns_rows: bool

    def converted(self, rows: Sequence[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
        """``rows`` as the statement's types read them."""
        if self.results is None:
            return rows
        return [
            tuple(v if f is None else f(v) for f, v in zip(self.results, row, strict=True))
            for row in rows
        ]

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters from SQLAlchemy's ``construct_params``."""
        converted = (
            values[name] if convert is None else convert(values[name])
            for name, convert in zip(self.names, self.binds, strict=True)
        )
        return dict(zip(self.names, converted, strict=True)) if self.named else tuple(converted)


_PLANS: dict[tuple[str, int, tuple[str, ...]], _Plan | None] = {}
"""(driver, id of the statement, its parameter names) → plan. The statements are module
constants, kept alive by their modules, so their ids are stable; ``_STATEMENTS`` holds them
anyway."""
_STATEMENTS: dict[int, Executable] = {}
_DIRECT = frozenset({"pysqlite", "psycopg"})
"""The drivers the statements run on directly: ``sqlite3`` and psycopg 3 (PyMySQL's go
through SQLAlchemy: not measured to gain, and PyMySQL is pure Python itself; another
PostgreSQL driver named in the URL, too)."""


def run(session: Session, statement: Executable, params: Mapping[str, Any]) -> Rows:
    """Run a prebuilt Core ``statement`` in ``session``'s transaction; its rows in full."""
    session.flush()  # pending ORM changes first, as Session.execute would
    connection = session.connection()
    plan = _plan_for(connection.dialect, statement, params)
    if plan is None:
        result = connection.execute(statement, params)
        rows = [tuple(row) for row in result] if result.returns_rows else []
        lastrowid = result.lastrowid if connection.dialect.name == "sqlite" else None
        return Rows(rows, lastrowid=lastrowid, rowcount=result.rowcount)
    [args] = _arguments(plan, [params])
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if plan.named:
            raw = _on_server(connection, cursor, plan, args)[0]
        else:
            with _sqlite_errors(plan, args):
                cursor.execute(plan.sql, args)
                raw = cursor.fetchall() if cursor.description else []
        # Read before closing: psycopg forgets them with the cursor.
        lastrowid = None if plan.named else cursor.lastrowid
        rowcount = cursor.rowcount
    finally:
        cursor.close()
    return Rows(plan.converted(raw), lastrowid=lastrowid, rowcount=rowcount)


def run_many(
    session: Session, statement: Executable, params: Sequence[Mapping[str, Any]]
) -> list[Rows]:
    """``run`` once for each of ``params``, in ``session``'s transaction; each run's rows.
    On PostgreSQL psycopg pipelines two or more: one round trip for all (a pipeline of one
    costs more exchanges than a plain statement). On SQLite a statement without rows runs
    as one ``executemany`` (its rows there report no ``lastrowid``)."""
    if len(params) < 2:
        return [run(session, statement, p) for p in params]
    session.flush()
    connection = session.connection()
    plan = _plan_for(connection.dialect, statement, params[0])
    if plan is None or (plan.returns_rows and not plan.named):
        return [run(session, statement, p) for p in params]
    args = _arguments(plan, params)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    sets: list[list[Any]] = [[] for _ in args]
    try:
        if plan.named:
            sets = _on_server(connection, cursor, plan, args, many=True)
        else:
            with _sqlite_errors(plan, args):
                cursor.executemany(plan.sql, args)
    finally:
        cursor.close()
    return [Rows(plan.converted(rows), lastrowid=None) for rows in sets]


def _arguments(plan: _Plan, params: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The driver's parameters for each of ``params``; a value a type refuses is reported
    as SQLAlchemy reports it."""
    try:
        return [plan.arguments(plan.compiled.construct_params(p)) for p in params]
    except Exception as exc:
        raise StatementError(str(exc), plan.sql, dict(params[0]), exc) from exc


@contextmanager
def _sqlite_errors(plan: _Plan, args: Any) -> Iterator[None]:
    """``sqlite3``'s errors as SQLAlchemy's (``IntegrityError``, ``OperationalError``)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DBAPIError.instance(plan.sql, args, exc, sqlite3.Error) from exc


def _on_server(
    connection: Connection, cursor: Any, plan: _Plan, args: Any, *, many: bool = False
) -> list[list[Any]]:
    """Run on a server's driver cursor between the engine's cursor events, as SQLAlchemy
    does (with no execution context: listeners here take none); a driver error is handled
    by SQLAlchemy and raised as its own. Each run's rows: ``many`` runs once for each of
    the list ``args``, pipelined."""
    sql = plan.sql
    sets: list[list[Any]] = []
    try:
        for before in connection.dispatch.before_cursor_execute:
            sql, args = before(connection, cursor, sql, args, None, many)
        if many:
            cursor.executemany(sql, args, returning=plan.returns_rows)
            sets = [[] for _ in args]
            if plan.returns_rows:
                for index in range(len(args)):
                    sets[index] = cursor.fetchall()
                    cursor.nextset()
        else:
            cursor.execute(sql, args)
            sets = [cursor.fetchall() if plan.returns_rows else []]
        for after in connection.dispatch.after_cursor_execute:
            after(connection, cursor, sql, args, None, many)
    except BaseException as exc:  # as SQLAlchemy's own path: an interrupt too
        # Events, invalidation of a lost connection, the exception's SQLAlchemy class (with
        # no execution context, also a listener's own exception comes out a StatementError).
        connection._handle_dbapi_exception(exc, sql, args, cursor, None)
    return sets


def _plan_for(dialect: Dialect, statement: Executable, params: Mapping[str, Any]) -> _Plan | None:
    if dialect.driver not in _DIRECT:
        return None
    key = (dialect.driver, id(statement), tuple(params))
    try:
        return _PLANS[key]  # None: not eligible
    except KeyError:
        _STATEMENTS[id(statement)] = statement
        plan = _PLANS[key] = _compile(dialect, statement, key[2])
        return plan


def _compile(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> _Plan | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if not isinstance(compiled, SQLCompiler):
        return None
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params:
        return None  # SQLAlchemy computes something at execution: let it
    named = compiled.positiontup is None
    if named and (dialect.paramstyle != "pyformat" or compiled.escaped_bind_names):
        return None  # a parameter name the driver would not see as written
    if named:  # each name once, though the SQL may use it twice
        names = tuple(dict.fromkeys(compiled.bind_names.values()))
    else:
        names = tuple(compiled.positiontup or ())
    binds = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    columns = list(getattr(statement, "exported_columns", ()))
    if columns and not named and not getattr(statement, "is_select", False):
        return None  # a RETURNING on SQLite: SQLAlchemy's path
    processors = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    results = processors if any(p is not None for p in processors) else None
    return _Plan(compiled, compiled.string, names, binds, results, named, bool(columns))
