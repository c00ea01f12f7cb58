"""The statements every scoring message runs, straight on the SQLite driver.

SQLAlchemy's execution path (execution context, cursor events, result metadata) costs
~30–40 µs a statement here against ~2–3 µs for the same statement on the ``sqlite3``
cursor (``bench/`` and README §Benchmarks), and a score runs about ten of them while it
holds SQLite's only writer's turn. So on SQLite a prebuilt Core statement is compiled once
by SQLAlchemy — the SQL text, the order of its parameters, and the types' own bind and
result processors (datetimes, decimals, JSON) — and then run on the driver's cursor in the
session's transaction. Nothing is written by hand: the SQL and the conversions are
SQLAlchemy's, so a row reads and writes exactly as through the ORM.

A statement SQLAlchemy would add to at execution (a column default computed in Python,
parameters expanded at execution) is not eligible and runs through SQLAlchemy as before;
so does everything on PostgreSQL and MariaDB, where a statement is a round trip anyway.
Driver errors become SQLAlchemy's (``IntegrityError``, ``OperationalError``), so callers
catch the same exceptions either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
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


_PLANS: dict[tuple[int, tuple[str, ...]], _Plan | None] = {}
"""(id of the statement, its parameter names) → plan. The statements are module constants,
kept alive by their modules, so their ids are stable; ``_STATEMENTS`` holds them anyway."""
_STATEMENTS: dict[int, Executable] = {}


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
    values = plan.compiled.construct_params(params)
    try:
        args = tuple(
            values[name] if convert is None else convert(values[name])
            for name, convert in zip(plan.names, plan.binds, strict=True)
        )
    except Exception as exc:  # a type refused a value: as SQLAlchemy reports it
        raise StatementError(str(exc), plan.sql, dict(params), exc) from exc
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(plan.sql, args)
        raw = cursor.fetchall() if cursor.description else []
    except sqlite3.Error as exc:
        raise DBAPIError.instance(plan.sql, args, exc, sqlite3.Error) from exc
    finally:
        cursor.close()
    if plan.results is not None:
        raw = [
            tuple(v if f is None else f(v) for f, v in zip(plan.results, row, strict=True))
            for row in raw
        ]
    return Rows(raw, lastrowid=cursor.lastrowid, rowcount=cursor.rowcount)


def _plan_for(dialect: Dialect, statement: Executable, params: Mapping[str, Any]) -> _Plan | None:
    if dialect.name != "sqlite":
        return None
    key = (id(statement), tuple(params))
    try:
        return _PLANS[key]  # None: not eligible
    except KeyError:
        _STATEMENTS[id(statement)] = statement
        plan = _PLANS[key] = _compile(dialect, statement, key[1])
        return plan


def _compile(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> _Plan | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params:
        return None  # SQLAlchemy computes something at execution: let it
    names = tuple(compiled.positiontup)
    binds = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    columns = list(getattr(statement, "exported_columns", ()))
    if columns and not getattr(statement, "is_select", False):
        return None  # a RETURNING: SQLAlchemy's path (PostgreSQL's statements have them)
    processors = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    results = processors if any(p is not None for p in processors) else None
    return _Plan(compiled, compiled.string, names, binds, results)
