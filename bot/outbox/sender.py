"""``OutboxSender``: claim due pushes, send them in waves, settle what failed.

The whole story (claim, waves, leases, the crash window, settling) is in ``bot.outbox``."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import OutboxSettings
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.outbox.alerts import alert_organizers
from bot.outbox.claims import Claims
from bot.outbox.waves import Claimed, DrainStats, plan_waves
from bot.senders.base import Sender
from handlers.messages import OutboundMessage, payload_of
from storage import outbox as store
from storage.db import transaction
from storage.errors import StorageUnavailable

log = logging.getLogger("edubot.outbox")

Failure = RetryableDelivery | PermanentDelivery


Refresh = Callable[[Session, str, OutboundMessage, datetime], OutboundMessage | None]


def keep(
    _session: Session, _reason: str, message: OutboundMessage, _now: datetime
) -> OutboundMessage:
    """The default refresh: every push stays as written."""
    return message


class OutboxSender:
    """Drains due pushes. Safe to run in several processes against one database.

    ``send_threads`` > 1 sends each wave's rows (different robots) in parallel; see the
    module docstring for what that changes (arrival order across robots, the crash window).
    Call ``close`` to stop those threads.
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
        refreshes: Callable[[str], bool] = lambda _reason: True,
        rng: random.Random | None = None,
        send_threads: int = 1,
    ) -> None:
        self._factory = factory
        self._sender = sender
        self._clock = clock
        self._settings = settings
        self._instance = instance[:64]
        self._refresh = refresh
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._refreshes = refreshes
        self._threads = max(1, send_threads)
        self._pool: ThreadPoolExecutor | None = None  # started on the first parallel wave
        self._blocked: dict[str, datetime] = {}  # robots this sender saw blocked
        self._unmarked: list[Claimed] = []  # delivered, not yet marked (database busy)
        self._claims = Claims(factory, sender, clock=clock, settings=settings, instance=instance)

    # ------------------------------------------------------------------ public

    def drain(self, batch: int = 50) -> DrainStats:
        """Claim and send what is due now; returns what happened.

        The claim leases the rows for ``lease_seconds``. Whenever half of that has gone by
        (slow platforms, a long batch), the rows not yet sent are leased again before the
        next send — and rows another instance took over meanwhile are left to it — so no
        lease runs out while its row is still this instance's to send or to mark.
        """
        self._mark_unmarked()
        claimed = self._claims.claim(batch)
        leased_at = self._clock.now()
        totals = Counter[str]()
        waves = list(plan_waves(claimed, parallel=self._threads > 1))
        while waves:
            if self._clock.now() - leased_at >= self._half_lease:
                waves = self._renew(waves)
                leased_at = self._clock.now()
                if not waves:
                    break
            wave = waves.pop(0)
            if self._threads > 1:
                self._send_parallel(wave, totals)
            else:
                unsent = self._send_in_order(wave, totals, leased_at)
                if unsent:
                    waves.insert(0, unsent)
        return DrainStats(
            sent=totals["sent"],
            retried=totals["retried"],
            failed=totals["failed"],
            dropped=totals["dropped"],
        )

    def drain_all(self, batch: int = 50, max_passes: int = 1000) -> DrainStats:
        """Drain until a pass handles nothing (what is due now and allowed by the limits)."""
        total = DrainStats()
        for _ in range(max_passes):
            stats = self.drain(batch)
            if not stats.handled:
                break
            total = DrainStats(
                total.sent + stats.sent,
                total.retried + stats.retried,
                total.failed + stats.failed,
                total.dropped + stats.dropped,
            )
        return total

    def next_due(self) -> datetime | None:
        """When the earliest pending push that is not yet due falls due (None: none is).

        Rows already due but held back by a full rate window are not counted: their time is
        the poll's, so a robot at its limit cannot make the drain spin.
        """
        now = self._clock.now()
        with transaction(self._factory) as session:  # on SQLite, in the writers' queue
            return store.next_pending_due(session, now)

    @property
    def send_threads(self) -> int:
        """How many pushes to different robots this sender sends at once."""
        return self._threads

    def close(self) -> None:
        """Stop the send threads (after the requests they are making)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # ------------------------------------------------------------------ send

    def _send_in_order(
        self, wave: list[Claimed], totals: Counter[str], leased_at: datetime
    ) -> list[Claimed]:
        """One row after the other; failures settled at once, deliveries marked together.

        Stops before a row once half the lease is gone and returns the rows not yet sent,
        after marking the ones delivered (``drain`` leases the rest again)."""
        delivered: list[Claimed] = []
        try:
            for index, claimed in enumerate(wave):
                if index and self._clock.now() - leased_at >= self._half_lease:
                    return wave[index:]
                for row, message in self._prepare([claimed], totals):
                    failure = self._attempt(row, message)
                    if failure is None:
                        delivered.append(row)
                    else:
                        totals[self._settle(row, failure)] += 1
        finally:
            self._mark_sent(delivered)
            totals["sent"] += len(delivered)
        return []

    def _send_parallel(self, wave: list[Claimed], totals: Counter[str]) -> None:
        """The wave's HTTP requests at once on the pool; the bookkeeping on this thread."""
        ready = self._prepare(wave, totals)
        if len(ready) <= 1:
            failures = [self._attempt(row, message) for row, message in ready]
        else:
            failures = list(self._executor().map(lambda item: self._attempt(*item), ready))
        outcomes = [(row, failure) for (row, _), failure in zip(ready, failures, strict=True)]
        delivered = [row for row, failure in outcomes if failure is None]
        self._mark_sent(delivered)
        totals["sent"] += len(delivered)
        for row, failure in outcomes:
            if failure is not None:
                totals[self._settle(row, failure)] += 1

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="outbox-send")
        return self._pool

    def _prepare(
        self, rows: list[Claimed], totals: Counter[str]
    ) -> list[tuple[Claimed, OutboundMessage]]:
        """What to send now, in order: rows of a robot blocked meanwhile are given back,
        rows whose reason is gone are dropped, the others re-rendered where that applies —
        in one transaction for all of ``rows``, and none when no row needs one."""
        now = self._clock.now()
        deferred: list[tuple[Claimed, datetime]] = []
        checked: list[Claimed] = []
        messages: dict[int, OutboundMessage] = {}  # row id -> what to send
        for row in rows:
            blocked = self._blocked.get(row.rate_key)
            if blocked is not None and blocked > now:
                # This robot was blocked after the row was claimed in the same batch.
                deferred.append((row, blocked))
            elif self._refreshes(row.reason):
                # Only pushes whose reason can go away pay for a transaction before sending.
                checked.append(row)
            else:
                messages[row.id] = row.message
        if not deferred and not checked:
            return [(row, row.message) for row in rows]
        with transaction(self._factory) as session:
            for row, until in deferred:
                store.give_back(session, row.id, due_at=until, attempts=row.attempts - 1)
                log.info("deferred %s: %s is blocked until %s", row.dedupe_key, row.rate_key, until)
            for row in checked:
                message = self._refresh(session, row.reason, row.message, now)
                if message is None:
                    gone = "the reason for this push is gone"
                    store.finish(session, [row.id], "dropped", now, gone)
                    log.info("dropped %s: reason gone", row.dedupe_key)
                    totals["dropped"] += 1
                    continue
                if message != row.message:
                    store.set_payload(session, row.id, payload_of(message))
                messages[row.id] = message
        totals["retried"] += len(deferred)
        return [(row, messages[row.id]) for row in rows if row.id in messages]

    def _attempt(self, row: Claimed, message: OutboundMessage) -> Failure | None:
        """Send one push; the failure, if any (never raises, runs on any thread)."""
        try:
            self._sender.send(message, dedupe_key=row.dedupe_key)
        except (RetryableDelivery, PermanentDelivery) as exc:
            return exc
        except Exception as exc:  # a bug in a sender must not stop the queue
            log.exception("sender crashed on %s", row.dedupe_key)
            return RetryableDelivery(f"sender error: {exc!r}")
        return None

    def _settle(self, row: Claimed, failure: Failure) -> str:
        if isinstance(failure, PermanentDelivery):
            self._fail(row, failure)
            return "failed"
        return self._retry(row, failure)

    def _mark_sent(self, rows: list[Claimed]) -> None:
        """Mark delivered rows ``sent``: one transaction for the whole wave. When the
        database cannot take it now, the rows are kept and marked before the next claim
        (while their lease runs, no other instance sends them)."""
        if not rows:
            return
        now = self._clock.now()
        try:
            with transaction(self._factory) as session:
                store.finish(session, [row.id for row in rows], "sent", now, "")
        except StorageUnavailable as exc:
            log.warning("could not mark %d delivered pushes yet: %s", len(rows), exc)
            self._unmarked.extend(rows)

    def _mark_unmarked(self) -> None:
        rows, self._unmarked = self._unmarked, []
        self._mark_sent(rows)

    @property
    def _half_lease(self) -> timedelta:
        return timedelta(seconds=self._settings.lease_seconds / 2)

    def _renew(self, waves: list[list[Claimed]]) -> list[list[Claimed]]:
        """Lease the rows of ``waves`` again; the waves without rows this instance lost."""
        ids = [row.id for wave in waves for row in wave]
        now = self._clock.now()
        until = now + timedelta(seconds=self._settings.lease_seconds)
        with transaction(self._factory) as session:
            kept = store.renew_leases(session, ids, instance=self._instance, until=until)
        lost = len(ids) - len(kept)
        if lost:
            log.warning("%d claimed pushes were taken over by another instance", lost)
        kept_waves = [[row for row in wave if row.id in kept] for wave in waves]
        return [wave for wave in kept_waves if wave]

    def _retry(self, row: Claimed, exc: RetryableDelivery) -> str:
        now = self._clock.now()
        if row.attempts >= self._settings.max_attempts:
            self._fail(row, PermanentDelivery(f"gave up after {row.attempts} attempts: {exc}"))
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
        log.warning("retry %s in %.0fs: %s", row.dedupe_key, delay.total_seconds(), exc)
        return "retried"

    def _fail(self, row: Claimed, exc: PermanentDelivery) -> None:
        log.error("push %s failed for good: %s", row.dedupe_key, exc)
        now = self._clock.now()
        with transaction(self._factory) as session:
            store.mark_failed(session, row.id, str(exc))
            alert_organizers(session, row.message, row.rate_key, exc, now)
