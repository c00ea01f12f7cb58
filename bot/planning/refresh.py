"""The last look before a push goes out: is its reason still there?"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.planning.deadlines import OVERDUE, REMIND
from bot.planning.deadlines import refresh as refresh_deadline_push
from bot.planning.venue_reminders import PREFIX as VENUE_PREFIX
from bot.planning.venue_reminders import refresh_venue_reminder
from handlers.messages import OutboundMessage

REFRESHED = (VENUE_PREFIX, REMIND, OVERDUE)
"""The reason prefixes whose pushes are re-checked before sending."""


def refreshes(reason: str) -> bool:
    """Whether a push with this reason is re-checked (or re-rendered) before sending."""
    return reason.startswith(REFRESHED)


def refresh(
    session: Session, reason: str, message: OutboundMessage, now: datetime
) -> OutboundMessage | None:
    """None drops the push; otherwise the (possibly re-rendered) message to send."""
    if reason.startswith(VENUE_PREFIX):
        return refresh_venue_reminder(session, reason, message)
    if reason.startswith((REMIND, OVERDUE)):
        return refresh_deadline_push(session, reason, message, now)
    return message
