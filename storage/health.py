"""What ``/healthz`` asks the database: can it read, can it write, how much is waiting.

The write is real and committed (the catalog counter's row set to its own value, in the
writers' queue like any other write), because ``SELECT 1`` passes on a database that is
read-only or whose disk is full, while every webhook answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import READ_ONLY, one_line, transaction
from storage.errors import StorageError
from storage.meta import CATALOG
from storage.models import Meta, OutboxRow


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    """What one check found: whether the database read and wrote, and the outbox backlog."""

    read: bool
    write: bool
    backlog: int = -1
    """Pushes due now and not yet sent; -1 when the database could not be read."""
    oldest_due: datetime | None = None
    problem: str = ""


def check_database(engine: Engine, factory: sessionmaker[Session], now: datetime) -> DatabaseHealth:
    """Read the outbox backlog, then commit a one-row write; never raises."""
    due = (OutboxRow.status.in_(("pending", "sending")), OutboxRow.due_at <= now)
    query = select(func.count(), func.min(OutboxRow.due_at)).where(*due)
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            count, oldest = connection.execute(query).one()
            connection.rollback()
    except (StorageError, SQLAlchemyError) as exc:
        return DatabaseHealth(read=False, write=False, problem=_why(exc))
    backlog = int(count or 0)
    try:
        with transaction(factory) as session:
            session.execute(update(Meta).where(Meta.key == CATALOG).values(value=Meta.value))
    except (StorageError, SQLAlchemyError) as exc:
        return DatabaseHealth(True, False, backlog, oldest, problem=_why(exc))
    return DatabaseHealth(True, True, backlog, oldest)


def _why(exc: Exception) -> str:
    return one_line(exc.orig) if isinstance(exc, DBAPIError) else one_line(exc)
