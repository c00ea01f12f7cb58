"""The outbox's statements: writing pushes, and what the sender runs to deliver them.

``add_push`` records intent in the caller's transaction, so that a push is durable exactly
when its cause is. A push arrives here as plain values: its address and its payload, a
JSON-able mapping that ``handlers.messages`` makes from an ``OutboundMessage`` and reads
back. The sending side's policy (claiming, lanes, rate limits, retries) is ``bot.outbox``;
the statements it runs are below, each in the caller's session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, func, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import Group, OutboxRate, OutboxRow
from storage.outbox_attempts import OutboxAttempt
from storage.outbox_intent import Intent, intent_of


def add_push(
    session: Session,
    *,
    platform: str,
    target_kind: str,
    target: str,
    payload: Mapping[str, Any],
    dedupe_key: str,
    due_at: datetime,
    now: datetime,
    reason: str = "",
    intent: Intent | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Add a push unless one with ``dedupe_key`` exists. True when a row was added.

    ``intent`` is what the sender checks before sending; without one the push's kind is the
    prefix of ``reason`` and it is sent as written."""
    if session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key)):
        return False
    why = intent or intent_of(reason)
    row = OutboxRow(
        dedupe_key=dedupe_key[:191],
        platform=platform,
        target_kind=target_kind,
        target=target,
        payload=dict(payload),
        due_at=due_at,
        expires_at=expires_at,
        status="pending",
        attempts=0,
        created_at=now,
        reason=reason[:191],
        kind=why.kind[:32],
        subject=why.subject,
        subject_due=why.due,
        part=why.part,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False  # a concurrent writer enqueued the same push first
    return True


def row_intent(row: OutboxRow | Row[Any]) -> Intent:
    """The intent stored on an outbox row (a full row or one read by ``due_page``)."""
    return Intent(row.kind or "", row.subject, row.subject_due, row.part)


def reword_pending(
    session: Session, dedupe_key: str, *, payload: Mapping[str, Any], platform: str, target: str
) -> bool:
    """Whether a push with ``dedupe_key`` exists; if it is still pending it gets the new
    payload and address (a venue reminder after the venue changed without moving)."""
    if session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key)) is None:
        return False
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.dedupe_key == dedupe_key, OutboxRow.status == "pending")
        .values(payload=dict(payload), platform=platform, target=target)
    )
    return True


# --------------------------------------------------------------------------- sending side
# The statements ``bot.outbox`` runs to claim, lease, settle and rate-limit pushes. Each
# takes the caller's session: the sender decides the transactions.

CLAIM_LOCK = "__claim__"
"""The rate row every claim locks first, so claims never interleave."""

_OUTBOX = cast(Table, OutboxRow.__table__)
_RATE = cast(Table, OutboxRate.__table__)
_TRIES = cast(Table, OutboxAttempt.__table__)
_O = _OUTBOX.c
_BY_ID = _O.id == bindparam("b_id")


def lock_claims(session: Session) -> None:
    """Take the claim lock for this transaction (``FOR UPDATE``; creating it if it went)."""
    locked = session.execute(
        select(_RATE.c.rate_key).where(_RATE.c.rate_key == CLAIM_LOCK).with_for_update()
    ).first()
    if locked is None:  # the row went away under a cached "exists": create it
        lock_rate_row(session, CLAIM_LOCK)


def due_page(
    session: Session,
    now: datetime,
    full: set[str],
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[Row[Any]]:
    """The next page of due rows (pending, or sending with a lapsed lease), locked, skipping
    the robots in ``full`` and paged by ``(due_at, id)`` after ``after``."""
    query: Select[Any] = select(
        _O.id,
        _O.dedupe_key,
        _O.kind,
        _O.subject,
        _O.subject_due,
        _O.part,
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
    query = query.order_by(_O.due_at, _O.id).limit(limit).with_for_update(skip_locked=True)
    return session.execute(query).all()


def drop_rows(session: Session, drops: Sequence[Mapping[str, Any]]) -> None:
    """Rows ``{"b_id", "b_why"}`` become ``dropped`` with their reason."""
    if drops:
        session.execute(
            update(_OUTBOX)
            .where(_BY_ID)
            .values(status="dropped", last_error=bindparam("b_why"), lease_until=None),
            drops,
        )


def set_rate_keys(session: Session, keyed: Sequence[Mapping[str, Any]]) -> None:
    """Rows ``{"b_id", "b_key"}`` get their robot's rate key written."""
    if keyed:
        session.execute(update(_OUTBOX).where(_BY_ID).values(rate_key=bindparam("b_key")), keyed)


def lease_rows(
    session: Session, claims: Sequence[Mapping[str, Any]], *, until: datetime, instance: str
) -> None:
    """Rows ``{"b_id", "b_key", "b_attempts"}`` become ``sending``, leased to ``instance``."""
    if claims:
        session.execute(
            update(_OUTBOX)
            .where(_BY_ID)
            .values(
                status="sending",
                rate_key=bindparam("b_key"),
                attempts=bindparam("b_attempts"),
                lease_until=until,
                claimed_by=instance,
            ),
            claims,
        )


def renew_leases(
    session: Session, ids: Sequence[int], *, instance: str, until: datetime
) -> set[int]:
    """Lease ``ids`` again where ``instance`` still holds them; the ids it still holds."""
    mine = (_O.id.in_(ids), _O.status == "sending", _O.claimed_by == instance)
    session.execute(update(_OUTBOX).where(*mine).values(lease_until=until))
    return set(session.scalars(select(_O.id).where(*mine)))


def robot_budgets(
    session: Session, keys: set[str], now: datetime, *, limit: int, window: timedelta
) -> dict[str, int]:
    """How many more requests each robot may start now: two queries in all.

    A robot's window counts every request that started in the last ``window``, answered or
    failed (``outbox_attempts``), and what is claimed and not yet answered (``sending`` with
    a live lease); a blocked robot has none left.
    """
    wanted = sorted(keys)
    blocked = {
        key
        for key, until in session.execute(
            select(_RATE.c.rate_key, _RATE.c.blocked_until).where(_RATE.c.rate_key.in_(wanted))
        )
        if until is not None and until > now
    }
    # One statement, so one snapshot: a mark committed between two queries would move a
    # push from "sending" to "attempted" unseen by both (PostgreSQL reads each statement
    # afresh) and let one request too many through.
    tried = select(_TRIES.c.rate_key.label("key")).where(
        _TRIES.c.rate_key.in_(wanted), _TRIES.c.attempted_at > now - window
    )
    flying = select(_O.rate_key.label("key")).where(
        _O.rate_key.in_(wanted), _O.status == "sending", _O.lease_until >= now
    )
    both = union_all(tried, flying).subquery()
    used = {
        key: int(count)
        for key, count in session.execute(select(both.c.key, func.count()).group_by(both.c.key))
    }
    return {key: 0 if key in blocked else limit - used.get(key, 0) for key in keys}


def record_attempts(session: Session, attempts: Sequence[tuple[str, datetime]]) -> None:
    """Requests ``(rate_key, started_at)`` made to robots, whatever their answer."""
    if attempts:
        session.execute(
            _TRIES.insert(), [{"rate_key": key, "attempted_at": at} for key, at in attempts]
        )


def prune_attempts(session: Session, before: datetime) -> None:
    """Forget the requests that started before ``before`` (outside every window)."""
    session.execute(_TRIES.delete().where(_TRIES.c.attempted_at < before))


def next_pending_due(session: Session, now: datetime) -> datetime | None:
    """When the earliest pending push that is not yet due falls due."""
    return session.execute(
        select(func.min(_O.due_at)).where(_O.status == "pending", _O.due_at > now)
    ).scalar_one_or_none()


def rate_row_exists(session: Session, key: str) -> bool:
    """Whether the rate row ``key`` exists."""
    return session.get(OutboxRate, key) is not None


def add_rate_row(session: Session, key: str) -> None:
    """Create the rate row ``key`` (the caller handles a concurrent creation)."""
    session.add(OutboxRate(rate_key=key))


def lock_rate_row(session: Session, key: str) -> OutboxRate:
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


def finish(session: Session, ids: Iterable[int], status: str, now: datetime, error: str) -> None:
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


def give_back(session: Session, row_id: int, *, due_at: datetime, attempts: int) -> None:
    """A claimed row back to ``pending`` untouched: not an attempt, due again at ``due_at``."""
    session.execute(
        update(_OUTBOX)
        .where(_O.id == row_id, _O.status == "sending")
        .values(status="pending", due_at=due_at, lease_until=None, attempts=attempts)
    )


def give_back_unsent(session: Session, rows: Sequence[Mapping[str, Any]], instance: str) -> None:
    """Rows ``{"b_id", "b_attempts"}`` this instance claimed and will not send (it is
    stopping) back to ``pending`` untouched, so another instance need not wait for the lease."""
    if rows:
        session.execute(
            update(_OUTBOX)
            .where(_BY_ID, _O.status == "sending", _O.claimed_by == instance)
            .values(status="pending", lease_until=None, attempts=bindparam("b_attempts")),
            rows,
        )


def set_payload(session: Session, row_id: int, payload: Mapping[str, Any]) -> None:
    """Store a re-rendered payload for row ``row_id``."""
    session.execute(update(_OUTBOX).where(_O.id == row_id).values(payload=dict(payload)))


def retry_later(session: Session, row_id: int, *, due_at: datetime, error: str) -> None:
    """Row ``row_id`` back to ``pending``, due again at ``due_at``, with its last error."""
    session.execute(
        update(_OUTBOX)
        .where(_O.id == row_id)
        .values(status="pending", due_at=due_at, lease_until=None, last_error=error[:2000])
    )


def mark_failed(session: Session, row_id: int, error: str) -> None:
    """Row ``row_id`` failed for good."""
    session.execute(
        update(_OUTBOX)
        .where(_O.id == row_id)
        .values(status="failed", lease_until=None, last_error=error[:2000])
    )


def organizer_groups(session: Session) -> Sequence[Group]:
    """The active groups that receive the organizers' alerts."""
    return session.scalars(
        select(Group).where(Group.organizers.is_(True), Group.active.is_(True))
    ).all()
