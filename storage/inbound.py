"""The inbound message log: one row per (platform, message id), with the answer given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from bot.messages import InboundMessage
from storage.db import execute_core, insert_id
from storage.models import InboundMessageRow

_INBOUND: Table = InboundMessageRow.__table__  # type: ignore[assignment]


def find_inbound(session: Session, platform: str, message_id: str) -> InboundMessageRow | None:
    return session.scalar(
        select(InboundMessageRow).where(
            InboundMessageRow.platform == platform, InboundMessageRow.message_id == message_id
        )
    )


_CLAIM = insert(_INBOUND)
_SETTLE = (
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("inbound"))
    .values(status=bindparam("status"), reply_text=bindparam("reply"))
)


def claim_inbound(
    session: Session, message: InboundMessage, now: datetime, *, person_id: int | None = None
) -> int:
    """Insert the log row first and return its id: a concurrent retry of the same message
    then fails on the unique index instead of being processed twice. Raises
    ``IntegrityError`` on a duplicate. A prebuilt statement: it runs for every message."""
    return insert_id(
        session,
        _CLAIM,
        {
            "platform": message.platform,
            "message_id": message.message_id[:128],
            "channel": message.channel,
            "sender_id": message.sender_id[:64],
            "person_id": person_id,
            "chat_id": message.chat_id[:128],
            "text": message.text,
            "received_at": now,
            "status": "pending",
            "reply_text": "",
        },
    )


def settle_inbound(session: Session, inbound_id: int, *, status: str, reply_text: str) -> None:
    """Store the answer given, with the handler's changes."""
    params = {"inbound": inbound_id, "status": status, "reply": reply_text}
    execute_core(session, _SETTLE, params)
