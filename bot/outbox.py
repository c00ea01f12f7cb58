"""Sending the outbox: every push once, on time, within each robot's rate limit.

The database is the source of truth. One ``drain`` pass:

1. **claim** — in one short transaction: lock the claim row (``outbox_rate`` "__claim__",
   ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already serialises), pick due rows (pending,
   or ``sending`` whose lease ran out after a crash) with ``FOR UPDATE SKIP LOCKED`` where the
   database has it, and take only as many per robot as its 60-second window still allows,
   counted from what the database says was sent or is in flight — so the limit holds across
   restarts and instances. Claimed rows become ``sending`` with a lease.
2. **send** — outside any transaction, one row at a time: re-check the reason (a reminder
   for someone who submitted meanwhile is dropped), send, and mark it ``sent`` at once.
   A crash between send and mark re-sends after the lease; the platforms' idempotency aids
   (DingTalk ``msgUuid``, WeCom ``enable_duplicate_check``) absorb that.
3. **settle** — retryable failures go back to ``pending`` with backoff and jitter (at least
   the platform's own ``retry_after``; a blocked robot blocks all its rows); permanent ones
   become ``failed`` and alert the organizers' group once.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import OutboxSettings
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.messages import OutboundMessage
from storage.db import transaction
from storage.models import Group, OutboxRate, OutboxRow
from storage.outbox import enqueue, message_of, payload_of

log = logging.getLogger("edubot.outbox")

CLAIM_LOCK = "__claim__"
WINDOW = timedelta(seconds=60)
MAX_SCAN = 5000
"""How many due rows one claim pass may look at before giving up for now."""


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
    """Drains due pushes. Safe to run in several processes against one database."""

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
    ) -> None:
        self._factory = factory
        self._sender = sender
        self._clock = clock
        self._settings = settings
        self._instance = instance[:64]
        self._refresh = refresh
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._refreshes = refreshes
        self._blocked: dict[str, datetime] = {}  # robots this sender saw blocked
        self._rate_rows: set[str] = set()  # rate rows known to exist (never deleted)

    # ------------------------------------------------------------------ public

    def drain(self, batch: int = 50) -> DrainStats:
        """Claim and send what is due now; returns what happened."""
        claimed = self._claim(batch)
        totals = Counter[str]()
        for row in claimed:
            totals[self._deliver(row)] += 1
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

    # ------------------------------------------------------------------ claim

    def _claim(self, batch: int) -> list[_Claimed]:
        """Claim up to ``batch`` due rows, scanning past robots whose window is full.

        The scan is paged by (due_at, id) so a robot with a large backlog cannot hide the
        rows of other robots behind it; rows of a robot found to be full are skipped in SQL
        for the rest of the pass (their rate key is written on first sight).
        """
        now = self._clock.now()
        grace = self._settings.grace_delta
        page_size = batch * 4
        self._ensure_rate_row(CLAIM_LOCK)
        with transaction(self._factory) as session:
            _lock(session, CLAIM_LOCK)
            budget: dict[str, int] = {}
            full: set[str] = set()
            claimed: list[_Claimed] = []
            after: tuple[datetime, int] | None = None
            scanned = 0
            while len(claimed) < batch and scanned < MAX_SCAN:
                query = select(OutboxRow).where(
                    or_(
                        (OutboxRow.status == "pending") & (OutboxRow.due_at <= now),
                        (OutboxRow.status == "sending") & (OutboxRow.lease_until < now),
                    )
                )
                if full:
                    query = query.where(OutboxRow.rate_key.not_in(full))
                if after is not None:
                    query = query.where(
                        or_(
                            OutboxRow.due_at > after[0],
                            (OutboxRow.due_at == after[0]) & (OutboxRow.id > after[1]),
                        )
                    )
                page = session.scalars(
                    query.order_by(OutboxRow.due_at, OutboxRow.id)
                    .limit(page_size)
                    .with_for_update(skip_locked=True)
                ).all()
                if not page:
                    break
                scanned += len(page)
                after = (page[-1].due_at, page[-1].id)
                for row in page:
                    if len(claimed) >= batch:
                        break
                    taken = self._consider(
                        session, row, now=now, grace=grace, budget=budget, full=full
                    )
                    if taken is not None:
                        claimed.append(taken)
            return claimed

    def _consider(
        self,
        session: Session,
        row: OutboxRow,
        *,
        now: datetime,
        grace: timedelta,
        budget: dict[str, int],
        full: set[str],
    ) -> _Claimed | None:
        """Drop, skip or claim one candidate row."""
        if row.expires_at is not None and row.expires_at < now:
            _drop(row, "expired before it could be sent")
            return None
        if row.attempts == 0 and row.due_at < now - grace:
            _drop(row, f"fell due {row.due_at.isoformat()}, past the grace of {grace}")
            return None
        message = message_of(row.payload)
        key = self._rate_key(row, message)
        row.rate_key = key
        if key not in budget:
            budget[key] = self._budget(session, key, now)
        if budget[key] <= 0:
            full.add(key)
            return None
        budget[key] -= 1
        row.status = "sending"
        row.attempts += 1
        row.lease_until = now + timedelta(seconds=self._settings.lease_seconds)
        row.claimed_by = self._instance
        return _Claimed(row.id, row.dedupe_key, row.reason, key, message, row.attempts)

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

    def _rate_key(self, row: OutboxRow, message: OutboundMessage) -> str:
        try:
            return self._sender.rate_key(message)[:191]
        except PermanentDelivery:
            return f"unroutable:{row.target}"[:191]

    def _budget(self, session: Session, key: str, now: datetime) -> int:
        """How many more sends this robot may start now."""
        state = session.get(OutboxRate, key)
        if state is not None and state.blocked_until is not None and state.blocked_until > now:
            return 0
        used = session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(
                OutboxRow.rate_key == key,
                or_(
                    OutboxRow.sent_at > now - WINDOW,
                    (OutboxRow.status == "sending") & (OutboxRow.lease_until >= now),
                ),
            )
        )
        return self._settings.rate_per_minute - int(used or 0)

    # ------------------------------------------------------------------ send

    def _deliver(self, row: _Claimed) -> str:
        now = self._clock.now()
        blocked = self._blocked.get(row.rate_key)
        if blocked is not None and blocked > now:
            # This robot was blocked after the row was claimed in the same batch.
            with transaction(self._factory) as session:
                _defer(session, row, blocked)
            return "retried"
        message: OutboundMessage | None = row.message
        if self._refreshes(row.reason):
            # Only pushes whose reason can go away pay for a transaction before sending.
            with transaction(self._factory) as session:
                message = self._refresh(session, row.reason, row.message, now)
        if message is None:
            self._finish(row, "dropped", "the reason for this push is gone")
            log.info("dropped %s: reason gone", row.dedupe_key)
            return "dropped"
        if message != row.message:
            with transaction(self._factory) as session:
                session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == row.id)
                    .values(payload=payload_of(message))
                )
        try:
            self._sender.send(message, dedupe_key=row.dedupe_key)
        except RetryableDelivery as exc:
            return self._retry(row, exc)
        except PermanentDelivery as exc:
            self._fail(row, exc)
            return "failed"
        except Exception as exc:  # a bug in a sender must not stop the queue
            log.exception("sender crashed on %s", row.dedupe_key)
            return self._retry(row, RetryableDelivery(f"sender error: {exc!r}"))
        self._finish(row, "sent", "")
        return "sent"

    def _finish(self, row: _Claimed, status: str, error: str) -> None:
        now = self._clock.now()
        with transaction(self._factory) as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id, OutboxRow.status == "sending")
                .values(
                    status=status,
                    sent_at=now if status == "sent" else None,
                    lease_until=None,
                    last_error=error,
                )
            )

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
                update(OutboxRow)
                .where(OutboxRow.id == row.id)
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
                update(OutboxRow)
                .where(OutboxRow.id == row.id)
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


def _defer(session: Session, row: _Claimed, until: datetime) -> None:
    """Give a claimed row back untouched: not an attempt, due again when the block ends."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == row.id, OutboxRow.status == "sending")
        .values(status="pending", due_at=until, lease_until=None, attempts=row.attempts - 1)
    )
    log.info("deferred %s: %s is blocked until %s", row.dedupe_key, row.rate_key, until)


def _drop(row: OutboxRow, why: str) -> None:
    log.info("dropped %s: %s", row.dedupe_key, why)
    row.status = "dropped"
    row.last_error = why[:2000]
    row.lease_until = None


def _organizer_groups(session: Session) -> Iterable[Group]:
    return session.scalars(
        select(Group).where(Group.organizers.is_(True), Group.active.is_(True))
    ).all()
