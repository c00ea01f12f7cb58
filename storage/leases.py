"""Leases: at most one holder per name, taken over once the holder stops renewing.

``claim_lease`` takes a free or expired lease, or renews our own, in one conditional
UPDATE (an INSERT the first time, in a savepoint so that a concurrent first claim loses
cleanly); it returns ``None`` when we hold it and the holder's name otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import ConnectionLease


def claim_lease(
    session: Session, name: str, holder: str, *, now: datetime, ttl: timedelta
) -> str | None:
    """Take or renew lease ``name`` for ``holder`` until ``now + ttl``.

    ``None``: ``holder`` has it now. Otherwise the name of the instance that does.
    """
    taken = session.execute(
        update(ConnectionLease)
        .where(
            ConnectionLease.name == name,
            (ConnectionLease.holder == holder) | (ConnectionLease.expires_at < now),
        )
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return None
    current = session.scalar(select(ConnectionLease.holder).where(ConnectionLease.name == name))
    if current is not None:
        return current
    try:
        with session.begin_nested():
            session.add(ConnectionLease(name=name, holder=holder, expires_at=now + ttl))
    except IntegrityError:
        return (
            session.scalar(select(ConnectionLease.holder).where(ConnectionLease.name == name))
            or "another instance"
        )
    return None


def take_over_lease(
    session: Session, name: str, holder: str, *, dead: str, now: datetime, ttl: timedelta
) -> bool:
    """Take lease ``name`` from ``dead``, a holder known to have died before its lease ran
    out; ``False`` when someone else took it first (or ``dead`` no longer holds it)."""
    taken = session.execute(
        update(ConnectionLease)
        .where(ConnectionLease.name == name, ConnectionLease.holder == dead)
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, holder: str) -> None:
    """Give the lease up if ``holder`` has it (a clean stop: the next one need not wait)."""
    session.execute(
        delete(ConnectionLease).where(
            ConnectionLease.name == name, ConnectionLease.holder == holder
        )
    )


def lease_holder(session: Session, name: str, *, now: datetime) -> str | None:
    """Who holds lease ``name`` at ``now`` (``None``: nobody, or it has expired)."""
    row = session.execute(
        select(ConnectionLease.holder, ConnectionLease.expires_at).where(
            ConnectionLease.name == name
        )
    ).one_or_none()
    if row is None or row.expires_at < now:
        return None
    return str(row.holder)
