"""Writing pushes into the outbox, in the caller's transaction.

The sending side (claiming, rate limits, retries) lives in ``bot.outbox``; this module only
records intent, so that a push is durable exactly when its cause is. A push arrives here as
plain values: its address and its payload, a JSON-able mapping that ``handlers.messages``
makes from an ``OutboundMessage`` and reads back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import OutboxRow


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
    expires_at: datetime | None = None,
) -> bool:
    """Add a push unless one with ``dedupe_key`` exists. True when a row was added."""
    if session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key)):
        return False
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
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False  # a concurrent writer enqueued the same push first
    return True
