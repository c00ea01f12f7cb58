"""``DatabaseLease``: the ``Lease`` of a connection only one instance may hold.

The holder renews every few seconds; a crashed holder's lease expires after ``ttl`` and
the next standby that asks takes it. While the database cannot be reached the holder keeps
the connection until its last renewal runs out (nobody else can take the lease before),
then counts the lease as lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from storage.db import transaction
from storage.errors import StorageError
from storage.leases import claim_lease, release_lease

log = logging.getLogger("edubot.connections")


def robot_lease_name(bot_id: str) -> str:
    """The lease of the WeCom robot ``bot_id``'s long connection (one per robot)."""
    return f"wecom-robot:{bot_id}"[:64]


def stream_lease_name(app_key: str) -> str:
    """The lease of the DingTalk app ``app_key``'s Stream connection: DingTalk would take
    one per process, but one per app keeps ``serve --workers N`` to a single link."""
    return f"dingtalk-stream:{app_key}"[:64]


class DatabaseLease:
    """Lease ``name`` held as ``holder`` (this instance's name) for ``ttl`` per renewal."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        name: str,
        holder: str,
        *,
        clock: Clock,
        ttl: timedelta,
    ) -> None:
        self._factory = factory
        self.name = name
        self.holder = holder
        self._clock = clock
        self._ttl = ttl
        self._held_until: datetime | None = None

    def acquire(self) -> str | None:
        """``None`` when we hold the lease now, else who does (or why we cannot tell)."""
        now = self._clock.now()
        try:
            with transaction(self._factory) as session:
                holder = claim_lease(session, self.name, self.holder, now=now, ttl=self._ttl)
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("lease %s: database unavailable: %s", self.name, exc)
            if self._held_until is not None and now < self._held_until:
                return None  # still ours until the last renewal runs out
            self._held_until = None
            return "unknown (database unavailable)"
        self._held_until = now + self._ttl if holder is None else None
        return holder

    def release(self) -> None:
        """Give the lease up; a failure only means the next holder waits for the expiry."""
        try:
            with transaction(self._factory) as session:
                release_lease(session, self.name, self.holder)
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("lease %s: not released: %s", self.name, exc)
