"""Writing pushes into the outbox, in the caller's transaction.

The sending side (claiming, rate limits, retries) lives in ``bot.outbox``; this module only
records intent, so that a push is durable exactly when its cause is.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.messages import Mention, OutboundMessage
from storage.models import OutboxRow


def payload_of(message: OutboundMessage) -> dict[str, Any]:
    data = asdict(message)
    data["mentions"] = [asdict(m) for m in message.mentions]
    return data


def message_of(payload: dict[str, Any]) -> OutboundMessage:
    fields = dict(payload)
    fields["mentions"] = tuple(Mention(**m) for m in fields.get("mentions", ()))
    return OutboundMessage(**fields)


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
    """Add a push unless one with ``dedupe_key`` exists. True when a row was added."""
    if session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key)):
        return False
    row = OutboxRow(
        dedupe_key=dedupe_key[:191],
        platform=message.platform,
        target_kind=message.target_kind,
        target=message.target,
        payload=payload_of(message),
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
