"""``OutboxSender``: claim due pushes, send each robot's in its own lane, settle the rest.

The whole story (claims, lanes, marks, leases, the crash window, settling) is in
``bot.outbox``."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import OutboxSettings
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.outbox.alerts import alert_organizers
from bot.outbox.claimed import Claimed, DrainStats
from bot.outbox.claims import Claims
from bot.outbox.lanes import NEXT, PARKED, STOP, Lane, LanePool, lanes_of
from bot.outbox.marks import MarkWriter, write_marks
from bot.senders.base import Sender
from handlers.messages import OutboundMessage, payload_of
from storage import outbox as store
from storage.db import transaction
from storage.errors import StorageUnavailable
from storage.outbox_intent import Intent

log = logging.getLogger("edubot.outbox")

Failure = RetryableDelivery | PermanentDelivery

CLAIM_BATCH = 50
"""The pushes one claim takes by default, sending in order on one thread."""
LANE_DEPTH = 10
"""The most pushes of one robot a lane takes per claim. The lane claims again when it ends;
a short lane leaves the rest of a backlog to other instances, and a crash strands at most
this many pushes per robot until their lease runs out."""


Refresh = Callable[[Session, Intent, OutboundMessage, datetime], OutboundMessage | None]
Prepare = Callable[[Intent, OutboundMessage], OutboundMessage]
"""Work a push needs right before its attempt, outside any transaction (drawing a
picture); it may raise a delivery error like a sender."""


def keep(
    _session: Session, _intent: Intent, message: OutboundMessage, _now: datetime
) -> OutboundMessage:
    """The default refresh: every push stays as written."""
    return message


class OutboxSender:
    """Drains due pushes. Safe to run in several processes against one database.

    With ``send_threads`` > 1 each robot's pushes go out in a lane of their own on that many
    threads (``bot.outbox.lanes``); with one, everything claimed goes out in claim order on
    the calling thread (tests, the demo). ``background`` (``edubot serve``): ``drain``
    returns once the lanes are started instead of when they are done, and ``wake_with``'s
    callback is called whenever a lane ends, so its robot's next pushes are claimed then.
    Call ``close`` to stop the lanes and the mark writer.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        sender: Sender,
        *,
        clock: Clock,
        settings: OutboxSettings,
        instance: str,
        refresh: Refresh = keep,
        refreshes: Callable[[Intent], bool] = lambda _intent: True,
        prepare: Prepare = lambda _intent, message: message,
        rng: random.Random | None = None,
        send_threads: int = 1,
        background: bool = False,
    ) -> None:
        self._factory = factory
        self._sender = sender
        self._clock = clock
        self._settings = settings
        self._instance = instance[:64]
        self._refresh = refresh
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._refreshes = refreshes
        self._prepare_send = prepare
        self._threads = max(1, send_threads)
        self._background = background and self._threads > 1
        self._blocked: dict[str, datetime] = {}  # robots this sender saw blocked
        self._unmarked: list[tuple[Claimed, datetime]] = []  # delivered, database busy
        self._claims = Claims(
            factory,
            sender,
            clock=clock,
            settings=settings,
            instance=instance,
            depth=LANE_DEPTH if self._threads > 1 else None,
        )
        self._marks = MarkWriter(factory, clock)
        self._lanes = (
            LanePool(self._threads, self._step, self._lane_ended) if self._threads > 1 else None
        )
        self._waker: Callable[[], None] = lambda: None
        # One claim per pass is the slow part of a burst: a lane's worth for many robots.
        self._batch = max(CLAIM_BATCH, LANE_DEPTH * self._threads * 8 if self._lanes else 0)

    # ------------------------------------------------------------------ public

    def drain(self, batch: int | None = None) -> DrainStats:
        """Claim up to ``batch`` pushes due now (leaving out robots whose lane is still
        sending) and send them; returns what happened (in the background: how many pushes
        were set going). By default one claim takes ``CLAIM_BATCH``, or as many as every
        lane can take at once (``LANE_DEPTH`` per robot) for ``send_threads`` × 8 robots."""
        self._mark_unmarked()
        skip = self._lanes.busy() if self._lanes is not None else frozenset[str]()
        claimed = self._claims.claim(batch or self._batch, skip)
        if not claimed:
            return DrainStats()
        leased_at = claimed[0].leased_until - self._lease
        if self._lanes is None:
            lane = Lane("", claimed, leased_at)
            while lane.rows and self._step(lane) == NEXT:
                pass
            return _stats(lane.totals)
        lanes = lanes_of(claimed, leased_at)
        self._lanes.start(lanes)
        if self._background:
            return DrainStats(started=len(claimed))
        for lane in lanes:
            lane.done.wait()
        for lane in lanes:
            if lane.error is not None:
                raise lane.error
        return _stats(sum((lane.totals for lane in lanes), Counter[str]()))

    def drain_all(self, batch: int | None = None, max_passes: int = 1000) -> DrainStats:
        """Drain until a pass handles nothing (what is due now and allowed by the limits)."""
        total = DrainStats()
        for _ in range(max_passes):
            stats = self.drain(batch)
            if not stats.handled:
                break
            total += stats
        return total

    def next_due(self) -> datetime | None:
        """When the earliest pending push that is not yet due falls due (None: none is).

        Rows already due but held back by a full rate window are not counted: their time is
        the poll's, so a robot at its limit cannot make the drain spin.
        """
        now = self._clock.now()
        with transaction(self._factory) as session:  # on SQLite, in the writers' queue
            return store.next_pending_due(session, now)

    def wake_with(self, waker: Callable[[], None]) -> None:
        """Call ``waker`` whenever a lane ends (``edubot serve``: the scheduler's wake)."""
        self._waker = waker

    @property
    def send_threads(self) -> int:
        """How many pushes to different robots this sender sends at once."""
        return self._threads

    def close(self) -> None:
        """Let the requests under way finish and be marked; give back what the lanes had
        not started, so no instance waits for those leases."""
        left = self._lanes.close() if self._lanes is not None else []
        rows = [
            {"b_id": row.id, "b_attempts": row.attempts - 1} for lane in left for row in lane.rows
        ]
        if rows:
            try:
                with transaction(self._factory) as session:
                    store.give_back_unsent(session, rows, self._instance)
            except StorageUnavailable as exc:
                log.warning("%d claimed pushes wait for their leases: %s", len(rows), exc)
        self._marks.close()

    # ------------------------------------------------------------------ one push

    def _step(self, lane: Lane) -> str:
        """Send the lane's next push and settle it (``bot.outbox.lanes``'s outcomes)."""
        if self._clock.now() >= lane.leased_at + self._renew_after:
            self._renew(lane)
            if not lane.rows:
                return STOP
        row = lane.rows.popleft()
        if row.rate_key in lane.stalled:
            return NEXT  # left leased: it comes back when its lease runs out
        message = self._prepare(row, lane)
        if message is None:
            return NEXT
        started = self._clock.now()
        failure = self._attempt(row, message)
        if failure is not None:
            lane.totals[self._settle(row, failure, started)] += 1
            return NEXT
        lane.totals["sent"] += 1
        return self._mark(row, started, lane)

    def _prepare(self, row: Claimed, lane: Lane) -> OutboundMessage | None:
        """What to send for ``row`` now: None when its robot was blocked meanwhile (it and
        the lane's other rows for that robot are given back) or what it is about is gone
        (dropped); else the message, re-rendered where its intent asks for that."""
        now = self._clock.now()
        blocked = self._blocked.get(row.rate_key)
        if blocked is not None and blocked > now:
            same = [row, *(r for r in lane.rows if r.rate_key == row.rate_key)]
            lane.rows = type(lane.rows)(r for r in lane.rows if r.rate_key != row.rate_key)
            with transaction(self._factory) as session:
                for r in same:
                    store.give_back(session, r.id, due_at=blocked, attempts=r.attempts - 1)
            log.info("deferred %d pushes: %s is blocked until %s", len(same), row.rate_key, blocked)
            lane.totals["retried"] += len(same)
            return None
        if not self._refreshes(row.intent):
            return row.message
        with transaction(self._factory) as session:
            message = self._refresh(session, row.intent, row.message, now)
            if message is None:
                store.finish(session, [row.id], "dropped", now, "the reason for this push is gone")
            elif message != row.message:
                store.set_payload(session, row.id, payload_of(message))
        if message is None:
            log.info("dropped %s: reason gone", row.dedupe_key)
            lane.totals["dropped"] += 1
        return message

    def _attempt(self, row: Claimed, message: OutboundMessage) -> Failure | None:
        """Send one push; the failure, if any (never raises, runs on any thread)."""
        try:
            message = self._prepare_send(row.intent, message)
            self._sender.send(message, dedupe_key=row.dedupe_key)
        except (RetryableDelivery, PermanentDelivery) as exc:
            return exc
        except Exception as exc:  # a bug in a sender must not stop the queue
            log.exception("sender crashed on %s", row.dedupe_key)
            return RetryableDelivery(f"sender error: {exc!r}")
        return None

    def _mark(self, row: Claimed, started: datetime, lane: Lane) -> str:
        """Mark a delivered push ``sent`` before anything more goes to its robot.

        On one thread the mark is written at once; a refused one is kept, written before
        the next claim, and the lane sends nothing more to that robot meanwhile. In lanes,
        the lane rests while the mark writer commits the mark with the others waiting; a
        mark still not written when the lease needs the time ends the lane (its rows come
        back after the lease)."""
        lanes = self._lanes
        if lanes is None:
            try:
                write_marks(self._factory, self._clock, [(row, started)])
            except StorageUnavailable as exc:
                log.warning("could not mark %s yet: %s", row.dedupe_key, exc)
                self._unmarked.append((row, started))
                lane.stalled.add(row.rate_key)
            return NEXT
        wait_s = self._renew_after.total_seconds()
        self._marks.mark(row, started, lambda written: lanes.resume(lane, written), wait_s)
        return PARKED

    def _mark_unmarked(self) -> None:
        if not self._unmarked:
            return
        try:
            write_marks(self._factory, self._clock, self._unmarked)
        except StorageUnavailable as exc:
            log.warning("could not mark %d delivered pushes yet: %s", len(self._unmarked), exc)
            return
        self._unmarked = []

    # ------------------------------------------------------------------ leases

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self._settings.lease_seconds)

    @property
    def _renew_after(self) -> timedelta:
        """Half the lease's slack over one request: a request started before this much of
        the lease has gone ends (``request_timeout_s`` at most) with that much still left
        for its mark, so no other instance claims a push while its request may complete."""
        slack = self._settings.lease_seconds - self._settings.request_timeout_s
        return timedelta(seconds=slack / 2)

    def _renew(self, lane: Lane) -> None:
        """Lease the lane's rows again; the ones another instance took over meanwhile
        (a stall longer than the lease) are left to it."""
        ids = [row.id for row in lane.rows]
        now = self._clock.now()
        with transaction(self._factory) as session:
            kept = store.renew_leases(
                session, ids, instance=self._instance, until=now + self._lease
            )
        lost = len(ids) - len(kept)
        if lost:
            log.warning("%d claimed pushes were taken over by another instance", lost)
        lane.rows = type(lane.rows)(row for row in lane.rows if row.id in kept)
        lane.leased_at = now

    # ------------------------------------------------------------------ failures

    def _settle(self, row: Claimed, failure: Failure, started: datetime) -> str:
        if isinstance(failure, PermanentDelivery):
            self._fail(row, failure, started)
            return "failed"
        return self._retry(row, failure, started)

    def _retry(self, row: Claimed, exc: RetryableDelivery, started: datetime) -> str:
        now = self._clock.now()
        if row.attempts >= self._settings.max_attempts:
            why = PermanentDelivery(f"gave up after {row.attempts} attempts: {exc}")
            self._fail(row, why, started)
            return "failed"
        backoff = min(600.0, 5.0 * 2 ** (row.attempts - 1)) * self._rng.uniform(0.5, 1.0)
        delay = timedelta(seconds=max(exc.retry_after, backoff))
        if exc.retry_after:
            self._blocked[row.rate_key] = now + timedelta(seconds=exc.retry_after)
            self._claims.ensure_rate_row(row.rate_key)
        with transaction(self._factory) as session:
            if exc.retry_after:
                blocked = now + timedelta(seconds=exc.retry_after)
                store.lock_rate_row(session, row.rate_key).blocked_until = blocked
            error = f"{exc.code or ''} {exc}".strip()
            store.retry_later(session, row.id, due_at=now + delay, error=error)
            store.record_attempts(session, [(row.rate_key, started)])
        log.warning("retry %s in %.0fs: %s", row.dedupe_key, delay.total_seconds(), exc)
        return "retried"

    def _fail(self, row: Claimed, exc: PermanentDelivery, started: datetime) -> None:
        log.error("push %s failed for good: %s", row.dedupe_key, exc)
        now = self._clock.now()
        with transaction(self._factory) as session:
            store.mark_failed(session, row.id, str(exc))
            store.record_attempts(session, [(row.rate_key, started)])
            alert_organizers(session, row.message, row.rate_key, exc, now)

    def _lane_ended(self) -> None:
        try:
            self._waker()
        except Exception:
            log.exception("waking the drain after a lane ended failed")


def _stats(totals: Counter[str]) -> DrainStats:
    return DrainStats(
        sent=totals["sent"],
        retried=totals["retried"],
        failed=totals["failed"],
        dropped=totals["dropped"],
    )
