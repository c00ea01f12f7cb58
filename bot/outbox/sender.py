"""Sending the outbox: every push once, on time, within each robot's rate limit.

The database is the source of truth. One ``drain`` pass:

1. **claim** — in one short transaction: lock the claim row (``outbox_rate`` "__claim__",
   ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already serialises), pick due rows (pending,
   or ``sending`` whose lease ran out after a crash) with ``FOR UPDATE SKIP LOCKED`` where the
   database has it, and take only as many per robot as its 60-second window still allows,
   counted from what the database says was sent or is in flight (one grouped count for the
   new robots of each chunk of candidates, not one count per robot) — so the limit holds
   across restarts and instances. Claimed rows become ``sending`` with a lease.
2. **send** — outside any transaction, in *waves* of at most ``WAVE`` claimed rows: re-check
   the reasons (a reminder for someone who submitted meanwhile is dropped), send, and mark
   the wave's delivered rows ``sent`` in one transaction right after it.

   A wave holds at most one row per robot. With ``send_threads`` > 1 (what ``edubot
   serve`` runs) its HTTP requests run in parallel on a small thread pool that does nothing but
   send. Every database read and write stays on the draining thread: on SQLite, threads
   writing their own bookkeeping queue for the one write lock and are slower than one
   thread. Each robot's rows still go out in claim order, one at a time. With one thread
   (the default: tests, the demo) the rows go out one by one in claim order, which keeps
   the order of arrivals deterministic.

   **Leases.** A batch that takes longer than half its lease (slow platforms) leases its
   unsent rows again before going on, and a wave's marks that the database refuses are
   written before the next claim, so no other instance takes over a row this one is still
   sending or has sent.

   **Crash window.** A crash after a send and before the mark of its wave re-sends that
   push once its lease has run out. That is at most one wave: ``WAVE`` = 16 pushes, and
   at most one to any one robot (group), where one transaction per push re-sent at most
   one in all. It is the price of one transaction per wave instead of one per push. DingTalk's
   ``msgUuid`` and WeCom's ``enable_duplicate_check`` absorb such re-sends; a WeCom group
   robot has no such aid, so its group may see the push twice, and that second send is not
   in the database's count of the robot's window (if the platform then throttles, the row
   is retried after its ``retry_after`` like any other throttled push).
3. **settle** — retryable failures go back to ``pending`` with backoff and jitter (at least
   the platform's own ``retry_after``; a blocked robot blocks all its rows); permanent ones
   become ``failed`` and alert the organizers' group once. Failures are settled row by row.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Row, Select, Table, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import OutboxSettings
from bot.errors import PermanentDelivery, RetryableDelivery
from handlers.messages import OutboundMessage, message_of, payload_of
from handlers.pushes import enqueue
from storage.db import transaction
from storage.errors import StorageUnavailable
from storage.models import Group, OutboxRate, OutboxRow

log = logging.getLogger("edubot.outbox")

CLAIM_LOCK = "__claim__"
WINDOW = timedelta(seconds=60)
MAX_SCAN = 5000
"""How many due rows one claim pass may look at before giving up for now."""
WAVE = 16
"""The most pushes sent before their ``sent`` marks are written (one transaction per wave),
and so the most a crash can send twice."""
_OUTBOX = cast(Table, OutboxRow.__table__)
_RATE = cast(Table, OutboxRate.__table__)
_O = _OUTBOX.c

Failure = RetryableDelivery | PermanentDelivery


class Sender(Protocol):
    """A platform sender (see ``bot.senders``)."""

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None: ...
    def rate_key(self, message: OutboundMessage) -> str: ...


Refresh = Callable[[Session, str, OutboundMessage, datetime], OutboundMessage | None]


def keep(
    _session: Session, _reason: str, message: OutboundMessage, _now: datetime
) -> OutboundMessage:
    """The default refresh: every push stays as written."""
    return message


@dataclass(frozen=True, slots=True)
class DrainStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.dropped


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    dedupe_key: str
    reason: str
    rate_key: str
    message: OutboundMessage
    attempts: int


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
        self._rate_rows: set[str] = set()  # rate rows known to exist (never deleted)
        self._unmarked: list[_Claimed] = []  # delivered, not yet marked (database busy)

    # ------------------------------------------------------------------ public

    def drain(self, batch: int = 50) -> DrainStats:
        """Claim and send what is due now; returns what happened.

        The claim leases the rows for ``lease_seconds``. Whenever half of that has gone by
        (slow platforms, a long batch), the rows not yet sent are leased again before the
        next send — and rows another instance took over meanwhile are left to it — so no
        lease runs out while its row is still this instance's to send or to mark.
        """
        self._mark_unmarked()
        claimed = self._claim(batch)
        leased_at = self._clock.now()
        totals = Counter[str]()
        waves = list(self._waves(claimed))
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
            return session.execute(
                select(func.min(_O.due_at)).where(_O.status == "pending", _O.due_at > now)
            ).scalar_one_or_none()

    @property
    def send_threads(self) -> int:
        """How many pushes to different robots this sender sends at once."""
        return self._threads

    def close(self) -> None:
        """Stop the send threads (after the requests they are making)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # ------------------------------------------------------------------ claim

    def _claim(self, batch: int) -> list[_Claimed]:
        """Claim up to ``batch`` due rows, scanning past robots whose window is full.

        The scan is paged by (due_at, id) so a robot with a large backlog cannot hide the
        rows of other robots behind it; rows of a robot found to be full are skipped in SQL
        for the rest of the pass (their rate key is written on first sight).
        """
        now = self._clock.now()
        self._ensure_rate_row(CLAIM_LOCK)
        with transaction(self._factory) as session:
            locked = session.execute(
                select(_RATE.c.rate_key).where(_RATE.c.rate_key == CLAIM_LOCK).with_for_update()
            ).first()
            if locked is None:  # the row went away under a cached "exists": create it
                _lock(session, CLAIM_LOCK)
            budget: dict[str, int] = {}
            full: set[str] = set()
            claimed: list[_Claimed] = []
            after: tuple[datetime, int] | None = None
            scanned = 0
            while len(claimed) < batch and scanned < MAX_SCAN:
                # The first page is what a pass usually needs; later ones, scanning past
                # robots found full, are larger.
                size = batch if not scanned else batch * 4
                page = session.execute(_due_page(now, full, after, size)).all()
                if not page:
                    break
                scanned += len(page)
                after = (page[-1].due_at, page[-1].id)
                self._take(
                    session, page, now=now, batch=batch, budget=budget, full=full, claimed=claimed
                )
            return claimed

    def _take(
        self,
        session: Session,
        page: Sequence[Row[Any]],
        *,
        now: datetime,
        batch: int,
        budget: dict[str, int],
        full: set[str],
        claimed: list[_Claimed],
    ) -> None:
        """Drop, skip or claim the rows of one page until ``claimed`` holds ``batch``.

        The rows are looked at in chunks as large as what is still wanted; the robots first
        seen in a chunk get their budgets from one grouped query. The page's changes are
        written with one executemany per kind before the next page is read.
        """
        grace = self._settings.grace_delta
        drops: list[dict[str, Any]] = []
        keyed: list[dict[str, Any]] = []
        claims: list[dict[str, Any]] = []
        rest = list(page)
        while rest and len(claimed) < batch:
            want = batch - len(claimed)
            chunk, rest = rest[:want], rest[want:]
            candidates: list[tuple[Row[Any], OutboundMessage, str]] = []
            for row in chunk:
                if row.expires_at is not None and row.expires_at < now:
                    drops.append(_dropping(row, "expired before it could be sent"))
                elif row.attempts == 0 and row.due_at < now - grace:
                    why = f"fell due {row.due_at.isoformat()}, past the grace of {grace}"
                    drops.append(_dropping(row, why))
                else:
                    message = message_of(row.payload)
                    candidates.append((row, message, self._rate_key(row.target, message)))
            unknown = {key for _, _, key in candidates if key not in budget}
            if unknown:
                budget.update(self._budgets(session, unknown, now))
            for row, message, key in candidates:
                if budget[key] <= 0:
                    full.add(key)
                    if row.rate_key != key:
                        keyed.append({"b_id": row.id, "b_key": key})
                    continue
                budget[key] -= 1
                attempts = row.attempts + 1
                claims.append({"b_id": row.id, "b_key": key, "b_attempts": attempts})
                claimed.append(_Claimed(row.id, row.dedupe_key, row.reason, key, message, attempts))
        by_id = _OUTBOX.c.id == bindparam("b_id")
        if drops:
            session.execute(
                update(_OUTBOX)
                .where(by_id)
                .values(status="dropped", last_error=bindparam("b_why"), lease_until=None),
                drops,
            )
        if keyed:
            session.execute(update(_OUTBOX).where(by_id).values(rate_key=bindparam("b_key")), keyed)
        if claims:
            lease = now + timedelta(seconds=self._settings.lease_seconds)
            session.execute(
                update(_OUTBOX)
                .where(by_id)
                .values(
                    status="sending",
                    rate_key=bindparam("b_key"),
                    attempts=bindparam("b_attempts"),
                    lease_until=lease,
                    claimed_by=self._instance,
                ),
                claims,
            )

    def _ensure_rate_row(self, key: str) -> None:
        """Create the rate row ``key``, if missing, in a transaction of its own.

        Creating it inside the transaction that locks it races on MariaDB: two ``SELECT …
        FOR UPDATE`` of the missing row both take gap locks, and their inserts deadlock.
        """
        if key in self._rate_rows:
            return
        with transaction(self._factory) as session:
            missing = session.get(OutboxRate, key) is None
        if missing:
            try:
                with transaction(self._factory) as session:
                    session.add(OutboxRate(rate_key=key))
            except IntegrityError:
                pass  # another instance created it first
        self._rate_rows.add(key)

    def _rate_key(self, target: str, message: OutboundMessage) -> str:
        try:
            return self._sender.rate_key(message)[:191]
        except PermanentDelivery:
            return f"unroutable:{target}"[:191]

    def _budgets(self, session: Session, keys: set[str], now: datetime) -> dict[str, int]:
        """How many more sends each of these robots may start now: two queries in all."""
        wanted = sorted(keys)
        blocked = {
            key
            for key, until in session.execute(
                select(_RATE.c.rate_key, _RATE.c.blocked_until).where(_RATE.c.rate_key.in_(wanted))
            )
            if until is not None and until > now
        }
        used = {
            key: int(count)
            for key, count in session.execute(
                select(_O.rate_key, func.count())
                .where(
                    _O.rate_key.in_(wanted),
                    or_(
                        _O.sent_at > now - WINDOW,
                        (_O.status == "sending") & (_O.lease_until >= now),
                    ),
                )
                .group_by(_O.rate_key)
            )
        }
        limit = self._settings.rate_per_minute
        return {key: 0 if key in blocked else limit - used.get(key, 0) for key in keys}

    # ------------------------------------------------------------------ send

    def _waves(self, claimed: list[_Claimed]) -> Iterator[list[_Claimed]]:
        """The claimed rows in waves of at most ``WAVE`` and at most one row per robot, each
        robot's rows in claim order. One row per robot means a crash before a wave's mark
        re-sends at most one push to any group.

        In order (one thread): runs of consecutive rows, a run ending before a robot it
        already holds, so the claim order is the send order. In parallel: the next row of
        each robot, so one robot's rows never race each other.
        """
        if self._threads <= 1:
            run: list[_Claimed] = []
            for row in claimed:
                if len(run) == WAVE or any(r.rate_key == row.rate_key for r in run):
                    yield run
                    run = []
                run.append(row)
            if run:
                yield run
            return
        rest = claimed
        while rest:
            wave: list[_Claimed] = []
            later: list[_Claimed] = []
            robots: set[str] = set()
            for row in rest:
                if len(wave) < WAVE and row.rate_key not in robots:
                    robots.add(row.rate_key)
                    wave.append(row)
                else:
                    later.append(row)
            yield wave
            rest = later

    def _send_in_order(
        self, wave: list[_Claimed], totals: Counter[str], leased_at: datetime
    ) -> list[_Claimed]:
        """One row after the other; failures settled at once, deliveries marked together.

        Stops before a row once half the lease is gone and returns the rows not yet sent,
        after marking the ones delivered (``drain`` leases the rest again)."""
        delivered: list[_Claimed] = []
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

    def _send_parallel(self, wave: list[_Claimed], totals: Counter[str]) -> None:
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
        self, rows: list[_Claimed], totals: Counter[str]
    ) -> list[tuple[_Claimed, OutboundMessage]]:
        """What to send now, in order: rows of a robot blocked meanwhile are given back,
        rows whose reason is gone are dropped, the others re-rendered where that applies —
        in one transaction for all of ``rows``, and none when no row needs one."""
        now = self._clock.now()
        deferred: list[tuple[_Claimed, datetime]] = []
        checked: list[_Claimed] = []
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
                _defer(session, row, until)
            for row in checked:
                message = self._refresh(session, row.reason, row.message, now)
                if message is None:
                    _finish(session, [row.id], "dropped", now, "the reason for this push is gone")
                    log.info("dropped %s: reason gone", row.dedupe_key)
                    totals["dropped"] += 1
                    continue
                if message != row.message:
                    session.execute(
                        update(_OUTBOX).where(_O.id == row.id).values(payload=payload_of(message))
                    )
                messages[row.id] = message
        totals["retried"] += len(deferred)
        return [(row, messages[row.id]) for row in rows if row.id in messages]

    def _attempt(self, row: _Claimed, message: OutboundMessage) -> Failure | None:
        """Send one push; the failure, if any (never raises, runs on any thread)."""
        try:
            self._sender.send(message, dedupe_key=row.dedupe_key)
        except (RetryableDelivery, PermanentDelivery) as exc:
            return exc
        except Exception as exc:  # a bug in a sender must not stop the queue
            log.exception("sender crashed on %s", row.dedupe_key)
            return RetryableDelivery(f"sender error: {exc!r}")
        return None

    def _settle(self, row: _Claimed, failure: Failure) -> str:
        if isinstance(failure, PermanentDelivery):
            self._fail(row, failure)
            return "failed"
        return self._retry(row, failure)

    def _mark_sent(self, rows: list[_Claimed]) -> None:
        """Mark delivered rows ``sent``: one transaction for the whole wave. When the
        database cannot take it now, the rows are kept and marked before the next claim
        (while their lease runs, no other instance sends them)."""
        if not rows:
            return
        now = self._clock.now()
        try:
            with transaction(self._factory) as session:
                _finish(session, [row.id for row in rows], "sent", now, "")
        except StorageUnavailable as exc:
            log.warning("could not mark %d delivered pushes yet: %s", len(rows), exc)
            self._unmarked.extend(rows)

    def _mark_unmarked(self) -> None:
        rows, self._unmarked = self._unmarked, []
        self._mark_sent(rows)

    @property
    def _half_lease(self) -> timedelta:
        return timedelta(seconds=self._settings.lease_seconds / 2)

    def _renew(self, waves: list[list[_Claimed]]) -> list[list[_Claimed]]:
        """Lease the rows of ``waves`` again; the waves without rows this instance lost."""
        ids = [row.id for wave in waves for row in wave]
        now = self._clock.now()
        until = now + timedelta(seconds=self._settings.lease_seconds)
        mine = (_O.id.in_(ids), _O.status == "sending", _O.claimed_by == self._instance)
        with transaction(self._factory) as session:
            session.execute(update(_OUTBOX).where(*mine).values(lease_until=until))
            kept = set(session.scalars(select(_O.id).where(*mine)))
        lost = len(ids) - len(kept)
        if lost:
            log.warning("%d claimed pushes were taken over by another instance", lost)
        kept_waves = [[row for row in wave if row.id in kept] for wave in waves]
        return [wave for wave in kept_waves if wave]

    def _retry(self, row: _Claimed, exc: RetryableDelivery) -> str:
        now = self._clock.now()
        if row.attempts >= self._settings.max_attempts:
            self._fail(row, PermanentDelivery(f"gave up after {row.attempts} attempts: {exc}"))
            return "failed"
        backoff = min(600.0, 5.0 * 2 ** (row.attempts - 1)) * self._rng.uniform(0.5, 1.0)
        delay = timedelta(seconds=max(exc.retry_after, backoff))
        if exc.retry_after:
            self._blocked[row.rate_key] = now + timedelta(seconds=exc.retry_after)
            self._ensure_rate_row(row.rate_key)
        with transaction(self._factory) as session:
            if exc.retry_after:
                _lock(session, row.rate_key).blocked_until = now + timedelta(
                    seconds=exc.retry_after
                )
            session.execute(
                update(_OUTBOX)
                .where(_O.id == row.id)
                .values(
                    status="pending",
                    due_at=now + delay,
                    lease_until=None,
                    last_error=f"{exc.code or ''} {exc}".strip()[:2000],
                )
            )
        log.warning("retry %s in %.0fs: %s", row.dedupe_key, delay.total_seconds(), exc)
        return "retried"

    def _fail(self, row: _Claimed, exc: PermanentDelivery) -> None:
        log.error("push %s failed for good: %s", row.dedupe_key, exc)
        now = self._clock.now()
        with transaction(self._factory) as session:
            session.execute(
                update(_OUTBOX)
                .where(_O.id == row.id)
                .values(status="failed", lease_until=None, last_error=str(exc)[:2000])
            )
            self._alert(session, row, exc, now)

    def _alert(
        self, session: Session, row: _Claimed, exc: PermanentDelivery, now: datetime
    ) -> None:
        """Tell the organizers' group once per robot and error (never about itself)."""
        for group in _organizer_groups(session):
            if row.message.target_kind == "group" and row.message.target == group.key:
                continue
            enqueue(
                session,
                OutboundMessage(
                    platform="wecom" if group.platform == "wecom" else "dingtalk",
                    target_kind="group",
                    target=group.key,
                    text=(
                        f"【edubot 告警】推送失败且不会重试：{row.message.target}"
                        f"（{exc.code or '错误'}：{exc}）。请检查该群机器人的配置。"
                    ),
                    title="edubot 告警",
                ),
                dedupe_key=f"alert:{row.rate_key}:{exc.code}"[:191],
                due_at=now,
                now=now,
                reason="alert",
            )


def _due_page(
    now: datetime, full: set[str], after: tuple[datetime, int] | None, limit: int
) -> Select[Any]:
    """The next page of due rows (pending, or sending with a lapsed lease), locked."""
    query = select(
        _O.id,
        _O.dedupe_key,
        _O.reason,
        _O.rate_key,
        _O.target,
        _O.payload,
        _O.due_at,
        _O.expires_at,
        _O.attempts,
    ).where(
        or_(
            (_O.status == "pending") & (_O.due_at <= now),
            (_O.status == "sending") & (_O.lease_until < now),
        )
    )
    if full:
        query = query.where(_O.rate_key.not_in(sorted(full)))
    if after is not None:
        query = query.where(or_(_O.due_at > after[0], (_O.due_at == after[0]) & (_O.id > after[1])))
    return query.order_by(_O.due_at, _O.id).limit(limit).with_for_update(skip_locked=True)


def _lock(session: Session, key: str) -> OutboxRate:
    """Lock (creating if needed) the rate row ``key`` for this transaction."""
    state = session.get(OutboxRate, key, with_for_update=True)
    if state is None:
        try:
            with session.begin_nested():
                session.add(OutboxRate(rate_key=key))
        except IntegrityError:
            pass  # another instance created it first; the locking read below waits for it
        state = session.get(OutboxRate, key, with_for_update=True, populate_existing=True)
        assert state is not None
    return state


def _finish(session: Session, ids: Iterable[int], status: str, now: datetime, error: str) -> None:
    """Rows still ``sending`` become ``status`` (``sent`` or ``dropped``), lease released."""
    session.execute(
        update(_OUTBOX)
        .where(_O.id.in_(list(ids)), _O.status == "sending")
        .values(
            status=status,
            sent_at=now if status == "sent" else None,
            lease_until=None,
            last_error=error,
        )
    )


def _defer(session: Session, row: _Claimed, until: datetime) -> None:
    """Give a claimed row back untouched: not an attempt, due again when the block ends."""
    session.execute(
        update(_OUTBOX)
        .where(_O.id == row.id, _O.status == "sending")
        .values(status="pending", due_at=until, lease_until=None, attempts=row.attempts - 1)
    )
    log.info("deferred %s: %s is blocked until %s", row.dedupe_key, row.rate_key, until)


def _dropping(row: Row[Any], why: str) -> dict[str, Any]:
    """Log a row dropped at claim time; its parameters for the page's drop statement."""
    log.info("dropped %s: %s", row.dedupe_key, why)
    return {"b_id": row.id, "b_why": why[:2000]}


def _organizer_groups(session: Session) -> Iterable[Group]:
    return session.scalars(
        select(Group).where(Group.organizers.is_(True), Group.active.is_(True))
    ).all()
