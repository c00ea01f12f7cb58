"""Named counters in the ``meta`` table."""

from __future__ import annotations

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from storage.models import Meta
from storage.prepared import run

CATALOG = "catalog"
"""Bumped by every config sync: the venue structure may have changed."""


_META: Table = Meta.__table__  # type: ignore[assignment]
_COUNTER = select(_META.c.value).where(_META.c.key == bindparam("key"))


def counter(session: Session, key: str) -> int:
    """Prebuilt, on the connection: the catalog's counter is read for every message."""
    return int(run(session, _COUNTER, {"key": key}).scalar() or 0)


def bump(session: Session, key: str) -> None:
    """Atomic in every backend: the row is created by the migration, never here."""
    session.execute(update(Meta).where(Meta.key == key).values(value=Meta.value + 1))
