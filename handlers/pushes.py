"""Queueing a push: an ``OutboundMessage`` into the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handlers.messages import OutboundMessage, payload_of
from storage.outbox import add_push


def enqueue(
    session: Session,
    message: OutboundMessage,
    *,
    dedupe_key: str,
    due_at: datetime,
    now: datetime,
    reason: str = "",
    expires_at: datetime | None = None,
) -> bool:
    """Add a push unless one with ``dedupe_key`` exists. True when a row was added.

    The session remembers that it queued a push (``queued_pushes``), so that whoever
    commits it can wake the outbox at once instead of waiting for its next poll.
    """
    added = add_push(
        session,
        platform=message.platform,
        target_kind=message.target_kind,
        target=message.target,
        payload=payload_of(message),
        dedupe_key=dedupe_key,
        due_at=due_at,
        now=now,
        reason=reason,
        expires_at=expires_at,
    )
    if added:
        session.info[_QUEUED] = True
    return added


_QUEUED = "edubot.queued_pushes"


def queued_pushes(session: Session) -> bool:
    """Whether a push was queued in ``session`` (it may since have been rolled back)."""
    return bool(session.info.get(_QUEUED, False))
