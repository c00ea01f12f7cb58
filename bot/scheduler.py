"""APScheduler as the timer, the database as the truth.

Jobs in the ``serve`` process: drain the outbox every ``poll_seconds``, at once when a
handler queued something, and at the due time of the next push it knows of; plan deadline
reminders and overdue lists every minute; and one ``CronTrigger`` per digest. Every job
only writes or sends outbox rows with stable dedupe keys, so several instances running the
same jobs still send each push once; a job killed mid-run loses nothing because its work is
in the database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.outbox import OutboxSender
from bot.planning.deadlines import plan_deadline_reminders, plan_overdue
from bot.planning.digests import catch_up_digests, enqueue_digest
from bot.planning.oversight import plan_oversight
from bot.planning.private import plan_private
from bot.planning.role import PlannerRole
from storage.db import transaction

log = logging.getLogger("edubot.scheduler")


class _SkipBusyDrain(logging.Filter):
    """The drain job is polled while a long drain may still run; that skip is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkipBusyDrain())
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)

_SOON = 0.05
"""Seconds: a push due sooner than this is waited for inside the running drain."""

DIGEST_GRACE = timedelta(hours=1)
"""A digest late by an hour is still worth sending; later than that it is dropped, logged."""

PlanJob = Callable[[Session, Settings, datetime], object]


def instance_name() -> str:
    """host:pid, for the outbox's claimed_by column and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def planning_jobs() -> list[PlanJob]:
    """The periodic planners: deadline reminders and overdue lists, and the private notices
    to the people who answer for units and to the units themselves."""
    return [plan_deadline_reminders, plan_overdue, plan_oversight, plan_private]


def run_planners(factory: sessionmaker[Session], settings: Settings, now: datetime) -> None:
    """Run each periodic planner for ``now``, each in a transaction of its own (the
    scheduler's minute job; the demo calls it directly)."""
    for job in planning_jobs():
        with transaction(factory) as session:
            job(session, settings, now)


def enqueue_digest_now(
    factory: sessionmaker[Session], settings: Settings, key: str, now: datetime
) -> None:
    """Queue the digest ``key`` as fired at ``now``, in a transaction of its own. Its
    dedupe keys name the period, so a second run in the same period adds nothing."""
    with transaction(factory) as session:
        enqueue_digest(session, settings, key, now, now)


class Scheduler:
    """The background worker of ``edubot serve``."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        outbox: OutboxSender,
        *,
        clock: Clock,
        role: PlannerRole | None = None,
    ) -> None:
        """``role``: plan only while holding it (several processes on one database);
        ``None`` plans always."""
        self._factory = factory
        self._role = role
        self._holding = False  # the role, at the last ask
        self._settings = settings
        self._outbox = outbox
        self._clock = clock
        self._scheduler = BackgroundScheduler(timezone=settings.tz)
        # APScheduler's shutdown(wait=True) holds its job-store lock while it waits for
        # running jobs; a drain that then asked it to move a job would wait for that lock
        # forever. Every call into the scheduler from a job or a handler happens under
        # ``_control`` and only while ``_stopping`` is unset.
        self._control = threading.Lock()
        self._stopping = False
        self._woken = threading.Event()  # a push was queued: the running drain goes again

    def use_settings(self, settings: Settings) -> None:
        """A reloaded config (``bot.reloading``): the planners read it from their next run
        (a changed digest schedule still needs a restart)."""
        self._settings = settings

    def start(self) -> None:
        """Queue the digests missed while down, add the jobs (outbox drain every
        ``poll_seconds``, planners every minute from now, one cron job per digest), start
        APScheduler's thread and ask for a drain at once."""
        if self._role is None:
            self._catch_up()
        else:
            self._plans()  # taking the role catches up
        poll = self._settings.outbox.poll_seconds
        self._scheduler.add_job(
            self._drain,
            IntervalTrigger(seconds=poll),
            id="outbox",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.add_job(
            self._plan,
            IntervalTrigger(minutes=1),
            id="plan",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(self._settings.tz),
        )
        for digest in self._settings.digests:
            self._scheduler.add_job(
                self._digest,
                CronTrigger.from_crontab(digest.cron, timezone=self._settings.tz),
                args=[digest.key],
                id=f"digest:{digest.key}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(DIGEST_GRACE.total_seconds()),
            )
        self._scheduler.start()
        self.wake()

    def _plans(self) -> bool:
        """Whether this process runs the planners now (see ``bot.planning.role``). Taking
        the role over catches up on digests: the last holder may have died before one."""
        if self._role is None:
            return True
        held = self._role.held()
        if held and not self._holding:
            self._catch_up()
        self._holding = held
        return held

    def _catch_up(self) -> None:
        """Digests that fell due while no instance ran (APScheduler forgets them)."""
        try:
            with transaction(self._factory) as session:
                catch_up_digests(session, self._settings, self._clock.now(), DIGEST_GRACE)
        except Exception:
            log.exception("catching up missed digests failed; the next firings still run")

    def stop(self) -> None:
        """Refuse further wake-ups, then stop APScheduler once its running jobs have ended."""
        with self._control:
            self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self._role is not None:
            self._role.release()

    def wake(self) -> None:
        """Drain now instead of at the next poll (a handler just queued a push). A drain
        already running drains again before it ends: APScheduler would skip the run asked
        for here while that one is still going."""
        self._woken.set()
        self._run_drain_in(0.0)

    def healthy(self) -> bool:
        """Whether APScheduler's thread is running (the ``/healthz`` check)."""
        return bool(self._scheduler.running)

    def _drain(self) -> None:
        """Drain what is due, then make the next run the next push's due time when that
        comes before the next poll: a reminder for 09:00:00 goes out then, not up to
        ``poll_seconds`` later.

        APScheduler skips a run asked for while this one is still going, so what would
        need one is done here: a push queued during the drain (``wake``) makes it drain
        again, and a push due within ``_SOON`` is waited for. Only a wake in the instant
        between the last check and the job's end is left to the next poll.
        """
        try:
            waited = False
            while not self._stopping:
                self._woken.clear()
                stats = self._outbox.drain_all()
                if stats.handled:
                    log.info("outbox: %s", stats)
                due = self._outbox.next_due()
                if self._woken.is_set():
                    continue  # queued while this run drained
                if due is None:
                    return
                wait = (due - self._clock.now()).total_seconds()
                if wait > _SOON or waited:  # one short wait at most; then the scheduler's
                    self._run_drain_in(max(wait, _SOON))
                    return
                waited = True
                time.sleep(max(wait, 0.0))
        except Exception:
            log.exception("outbox drain failed; will retry at the next poll")

    def _run_drain_in(self, seconds: float) -> None:
        """Move the drain's next run ``seconds`` ahead, if that is sooner than planned."""
        with self._control:
            if self._stopping or not self._scheduler.running:
                return
            job = self._scheduler.get_job("outbox")
            if job is None:
                return
            when = datetime.now(self._settings.tz) + timedelta(seconds=seconds)
            if job.next_run_time is None or when < job.next_run_time:
                job.modify(next_run_time=when)

    def _plan(self) -> None:
        try:
            if not self._plans():
                return
            run_planners(self._factory, self._settings, self._clock.now())
        except Exception:
            log.exception("planning failed; will retry in a minute")

    def _digest(self, key: str) -> None:
        try:
            if not self._plans():
                return
            enqueue_digest_now(self._factory, self._settings, key, self._clock.now())
            self.wake()
        except Exception:
            log.exception("digest %s failed", key)
