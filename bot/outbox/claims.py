"""Claiming due pushes: one short transaction that leases what each robot may send now."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import OutboxSettings
from bot.errors import PermanentDelivery
from bot.outbox.claimed import Claimed
from handlers.messages import OutboundMessage, message_of
from storage import outbox as store
from storage.db import transaction

log = logging.getLogger("edubot.outbox")

WINDOW = timedelta(seconds=60)
"""The platforms' rate window: at most ``rate_per_minute`` attempts per robot within it."""
MAX_SCAN = 5000
"""How many due rows one claim pass may look at before giving up for now."""


class RateKeys(Protocol):
    """What names a push's robot (the platform sender)."""

    def rate_key(self, message: OutboundMessage) -> str:
        """The robot ``message`` goes out through; ``PermanentDelivery`` when none can send it."""
        ...


class Claims:
    """Claims due rows for one instance, within each robot's window, across instances."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        robots: RateKeys,
        *,
        clock: Clock,
        settings: OutboxSettings,
        instance: str,
        depth: int | None = None,
    ) -> None:
        self._factory = factory
        self._depth = depth  # the most rows of one robot a pass claims (None: its budget)
        self._robots = robots
        self._clock = clock
        self._settings = settings
        self._instance = instance[:64]
        self._rate_rows: set[str] = set()  # rate rows known to exist (never deleted)
        self._pruned: datetime | None = None  # when old attempts were last forgotten

    def claim(self, batch: int, skip: frozenset[str] = frozenset()) -> list[Claimed]:
        """Claim up to ``batch`` due rows, scanning past robots whose window is full and
        the robots in ``skip`` (this instance's lanes still sending to them).

        The scan is paged by (due_at, id) so a robot with a large backlog cannot hide the
        rows of other robots behind it; rows of a robot found to be full are skipped in SQL
        for the rest of the pass (their rate key is written on first sight).
        """
        now = self._clock.now()
        self.ensure_rate_row(store.CLAIM_LOCK)
        with transaction(self._factory) as session:
            store.lock_claims(session)
            if self._pruned is None or now - self._pruned >= WINDOW:
                store.prune_attempts(session, now - 2 * WINDOW)
                self._pruned = now
            budget: dict[str, int] = dict.fromkeys(skip, 0)
            full: set[str] = set(skip)
            claimed: list[Claimed] = []
            after: tuple[datetime, int] | None = None
            scanned = 0
            while len(claimed) < batch and scanned < MAX_SCAN:
                # The first page is what a pass usually needs; later ones, scanning past
                # robots found full, are larger.
                size = batch if not scanned else batch * 4
                page = store.due_page(session, now, full, after, size)
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
        claimed: list[Claimed],
    ) -> None:
        """Drop, skip or claim the rows of one page until ``claimed`` holds ``batch``.

        The rows are looked at in chunks as large as what is still wanted; the robots first
        seen in a chunk get their budgets from one grouped query. The page's changes are
        written with one executemany per kind before the next page is read.
        """
        grace = self._settings.grace_delta
        lease = now + timedelta(seconds=self._settings.lease_seconds)
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
                intent = store.row_intent(row)
                claimed.append(
                    Claimed(row.id, row.dedupe_key, intent, key, message, attempts, lease)
                )
        store.drop_rows(session, drops)
        store.set_rate_keys(session, keyed)
        store.lease_rows(session, claims, until=lease, instance=self._instance)

    def ensure_rate_row(self, key: str) -> None:
        """Create the rate row ``key``, if missing, in a transaction of its own.

        Creating it inside the transaction that locks it races on MariaDB: two ``SELECT …
        FOR UPDATE`` of the missing row both take gap locks, and their inserts deadlock.
        """
        if key in self._rate_rows:
            return
        with transaction(self._factory) as session:
            missing = not store.rate_row_exists(session, key)
        if missing:
            try:
                with transaction(self._factory) as session:
                    store.add_rate_row(session, key)
            except IntegrityError:
                pass  # another instance created it first
        self._rate_rows.add(key)

    def _rate_key(self, target: str, message: OutboundMessage) -> str:
        try:
            return self._robots.rate_key(message)[:191]
        except PermanentDelivery:
            return f"unroutable:{target}"[:191]

    def _budgets(self, session: Session, keys: set[str], now: datetime) -> dict[str, int]:
        """How many more sends each of these robots may start now."""
        limit = self._settings.rate_per_minute
        budgets = store.robot_budgets(session, keys, now, limit=limit, window=WINDOW)
        if self._depth is None:
            return budgets
        return {key: min(left, self._depth) for key, left in budgets.items()}


def _dropping(row: Row[Any], why: str) -> dict[str, Any]:
    """Log a row dropped at claim time; its parameters for the page's drop statement."""
    log.info("dropped %s: %s", row.dedupe_key, why)
    return {"b_id": row.id, "b_why": why[:2000]}
