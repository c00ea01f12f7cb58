"""The planner role: of all processes on one database, one runs the planners.

With ``edubot serve --workers N`` (or several instances) every process drains the outbox
(claims in the database keep each push sent once), but planning deadline reminders,
overdue lists and digests is one process's job: the one holding the ``planner`` lease
(``storage.leases``). The holder renews it at each planner tick; when it dies, the lease
runs out after ``ttl`` and the next process whose tick asks takes the role over.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.connections.lease import DatabaseLease

log = logging.getLogger("edubot.scheduler")

PLANNER_LEASE = "planner"
PLANNER_TTL = timedelta(minutes=3)
"""Three planner ticks (one a minute): a busy minute does not cost the holder its role; a
dead holder's role moves within three to four minutes."""


class PlannerRole:
    """Whether this process plans, asked at each planner tick (which also renews it)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        holder: str,
        *,
        clock: Clock,
        ttl: timedelta = PLANNER_TTL,
    ) -> None:
        self._lease = DatabaseLease(factory, PLANNER_LEASE, holder, clock=clock, ttl=ttl)
        self._held: bool | None = None  # not asked yet: the first answer is logged

    @property
    def holder(self) -> str:
        """This process's name (host:pid)."""
        return self._lease.holder

    def held(self) -> bool:
        """Take or renew the role; ``True`` when this process plans now."""
        other = self._lease.acquire()
        held = other is None
        if held != self._held:
            if held:
                log.info("planner role taken by %s", self.holder)
            else:
                log.info("planner role is %s's; %s only drains the outbox", other, self.holder)
            self._held = held
        return held

    def release(self) -> None:
        """Give the role up at a clean stop, so another process takes it at its next tick."""
        if self._held:
            self._lease.release()
            self._held = None
