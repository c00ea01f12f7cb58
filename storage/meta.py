"""Named counters in the ``meta`` table."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from storage.models import Meta

CATALOG = "catalog"
"""Bumped by every config sync: the venue structure may have changed."""


_COUNTER = select(Meta.value).where(Meta.key == bindparam("key"))


def counter(session: Session, key: str) -> int:
    """Prebuilt: the catalog's counter is read for every message."""
    return int(session.scalar(_COUNTER, {"key": key}) or 0)


def bump(session: Session, key: str) -> None:
    """Atomic in every backend: the row is created by the migration, never here."""
    session.execute(update(Meta).where(Meta.key == key).values(value=Meta.value + 1))
