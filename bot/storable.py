"""What the inbound log can hold: a message that would not fit is refused before the
transaction (``MalformedRequest``), whichever transport brought it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String

from bot.errors import MalformedRequest
from handlers.messages import InboundMessage
from storage.models import InboundMessageRow, OutboxRow


# What the schema holds: a longer value would fail inside the transaction on PostgreSQL or
# MariaDB (or, for the id, defeat de-duplication), which answers 503 and has the platform
# retry a message that can never succeed. Refused up front instead (400).
def _length(column: Any) -> int:
    kind = column.type
    if not isinstance(kind, String) or not kind.length:
        raise TypeError(f"{column} is not a bounded string column")
    return int(kind.length)


_COLUMN_LIMITS = {
    "message_id": _length(InboundMessageRow.message_id),
    "sender_id": _length(InboundMessageRow.sender_id),
    "chat_id": _length(InboundMessageRow.chat_id),
    "reply_url": _length(OutboxRow.target),
}
_MAX_TEXT_BYTES = 65_535  # MySQL/MariaDB TEXT


def check_storable(message: InboundMessage) -> None:
    """Refuse (400) what the schema cannot store, rather than fail inside the transaction."""
    for name, limit in _COLUMN_LIMITS.items():
        if len(getattr(message, name)) > limit:
            raise MalformedRequest(f"{message.platform}: {name} is longer than {limit}")
    if len(message.text.encode("utf-8")) > _MAX_TEXT_BYTES:
        raise MalformedRequest(f"{message.platform}: text is longer than {_MAX_TEXT_BYTES} bytes")
    attachment = message.attachment
    values = [message.message_id, message.sender_id, message.chat_id, message.text]
    values += [message.sender_name, message.reply_url]
    values += [attachment.ref, attachment.filename] if attachment else []
    if any("\x00" in value for value in values):
        # PostgreSQL text cannot hold NUL; no platform sends one in earnest.
        raise MalformedRequest(f"{message.platform}: a field holds a NUL character")
