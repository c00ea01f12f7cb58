"""Why a push exists, as fields: what kind of push, about what, due when, which part.

The sender's last look before a push goes out (is everyone still missing? did the venue
move?) reads these columns; nothing parses the ``reason`` text back. ``reason`` stays, for
people reading the table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

REMIND = "remind"
"""A deadline reminder: ``subject`` the deadline's key, ``due`` its due time."""
OVERDUE = "overdue"
"""A deadline's list of who is late: ``subject`` the deadline's key, ``due`` its due time."""
VENUE = "venue"
"""A venue reminder: ``subject`` the venue's key, ``due`` its planned start."""
DIGEST = "digest"
"""A digest: ``subject`` the digest's key."""
PICTURE = "picture"
"""A published venue's ranking as a picture: ``subject`` the venue's key; the outbox draws
it at the message's ``image_path`` right before sending it."""


@dataclass(frozen=True, slots=True)
class Intent:
    """A push's intent as stored: ``kind`` (``remind``, ``overdue``, ``venue``, ``digest``,
    ``publish``, ``reply``...), the ``subject`` it is about and that subject's ``due`` time
    where one matters, and ``part`` (1, 2... of a split push; None when not split)."""

    kind: str = ""
    subject: str | None = None
    due: datetime | None = None
    part: int | None = None

    def numbered(self, part: int) -> Intent:
        """The same intent for part ``part`` of a split push."""
        return replace(self, part=part)


def intent_of(reason: str) -> Intent:
    """The intent of a push queued with only a ``reason``: its kind is the reason's prefix
    (``publish:ruiquan:leaders`` → ``publish``), with no subject."""
    return Intent(kind=reason.split(":", 1)[0][:32])
