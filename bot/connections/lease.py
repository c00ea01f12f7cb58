"""``DatabaseLease``: the ``Lease`` of a connection only one instance may hold.

The holder renews every few seconds; a crashed holder's lease expires after ``ttl`` and
the next standby that asks takes it. A database it cannot reach counts as a lost lease:
without renewing, we cannot know that nobody else took it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from storage.db import transaction
from storage.errors import StorageError
from storage.leases import claim_lease, release_lease

log = logging.getLogger("edubot.connections")


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

    def acquire(self) -> str | None:
        """``None`` when we hold the lease now, else who does (or why we cannot tell)."""
        try:
            with transaction(self._factory) as session:
                return claim_lease(
                    session, self.name, self.holder, now=self._clock.now(), ttl=self._ttl
                )
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("lease %s: database unavailable: %s", self.name, exc)
            return "unknown (database unavailable)"

    def release(self) -> None:
        """Give the lease up; a failure only means the next holder waits for the expiry."""
        try:
            with transaction(self._factory) as session:
                release_lease(session, self.name, self.holder)
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("lease %s: not released: %s", self.name, exc)
