"""The planner role: of all processes on one database, one runs the planners.

With ``edubot serve --workers N`` (or several instances) every process drains the outbox
(claims in the database keep each push sent once), but planning deadline reminders,
overdue lists and digests is one process's job: the one holding the ``planner`` lease
(``storage.leases``). The holder renews it at each planner tick; when it dies, the lease
runs out after ``ttl`` and the next process whose tick asks takes the role over. A holder
on this machine whose process is gone (a worker killed, ``edubot serve`` restarted after a
crash) is taken over at once: planning is idempotent, so even a wrong guess (two machines
of one name) only moves the role, never doubles a push.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.connections.lease import DatabaseLease
from storage.db import transaction
from storage.errors import StorageError
from storage.leases import take_over_lease

log = logging.getLogger("edubot.scheduler")

PLANNER_LEASE = "planner"
PLANNER_TTL = timedelta(minutes=3)
"""Three planner ticks (one a minute): a busy minute does not cost the holder its role; a
dead holder on another machine loses it within three to four minutes."""


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
        self._factory, self._clock, self._ttl = factory, clock, ttl
        self._held: bool | None = None  # not asked yet: the first answer is logged

    @property
    def holder(self) -> str:
        """This process's name (host:pid)."""
        return self._lease.holder

    def held(self) -> bool:
        """Take or renew the role; ``True`` when this process plans now."""
        other = self._lease.acquire()
        if other is not None and gone(other):
            other = self._take_from(other)
        held = other is None
        if held != self._held:
            if held:
                log.info("planner role taken by %s", self.holder)
            else:
                log.info("planner role is %s's; %s only drains the outbox", other, self.holder)
            self._held = held
        return held

    def _take_from(self, dead: str) -> str | None:
        try:
            with transaction(self._factory) as session:
                taken = take_over_lease(
                    session,
                    PLANNER_LEASE,
                    self.holder,
                    dead=dead,
                    now=self._clock.now(),
                    ttl=self._ttl,
                )
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("planner role: database unavailable: %s", exc)
            return dead
        if taken:
            log.info("planner role: %s is gone; %s takes over", dead, self.holder)
        return None if taken else self._lease.acquire()

    def release(self) -> None:
        """Give the role up at a clean stop, so another process takes it at its next tick."""
        if self._held:
            self._lease.release()
            self._held = None


def gone(holder: str) -> bool:
    """Whether ``holder`` (host:pid) names a process of this machine that no longer runs."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, as another user
    return False
