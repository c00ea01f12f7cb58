"""The inbound message log: one row per (platform, message id), with the answer given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import InboundMessage
from storage.models import InboundMessageRow


def find_inbound(session: Session, platform: str, message_id: str) -> InboundMessageRow | None:
    return session.scalar(
        select(InboundMessageRow).where(
            InboundMessageRow.platform == platform, InboundMessageRow.message_id == message_id
        )
    )


def claim_inbound(session: Session, message: InboundMessage, now: datetime) -> InboundMessageRow:
    """Insert the log row first: a concurrent retry of the same message then fails on the
    unique index instead of being processed twice. Raises ``IntegrityError`` on a duplicate."""
    row = InboundMessageRow(
        platform=message.platform,
        message_id=message.message_id[:128],
        channel=message.channel,
        sender_id=message.sender_id[:64],
        chat_id=message.chat_id[:128],
        text=message.text,
        received_at=now,
        status="pending",
        reply_text="",
    )
    session.add(row)
    session.flush()
    return row
