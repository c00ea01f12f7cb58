"""The last look before a push goes out: is what it is about still there?"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from bot.planning.deadlines import refresh as refresh_deadline_push
from bot.planning.pictures import refresh_picture
from bot.planning.venue_reminders import refresh_venue_reminder
from handlers.messages import OutboundMessage
from storage.outbox_intent import OVERDUE, PICTURE, REMIND, VENUE, Intent

REFRESHED = (VENUE, REMIND, OVERDUE, PICTURE)
"""The kinds of push re-checked before sending."""


def refreshes(intent: Intent) -> bool:
    """Whether a push with this intent is re-checked (or re-rendered) before sending."""
    return intent.kind in REFRESHED and bool(intent.subject)


def refresh(
    session: Session, intent: Intent, message: OutboundMessage, now: datetime, *, tz: tzinfo
) -> OutboundMessage | None:
    """None drops the push; otherwise the (possibly re-rendered) message to send, its times
    shown in ``tz``."""
    if intent.kind == VENUE:
        return refresh_venue_reminder(session, intent, message, now)
    if intent.kind in (REMIND, OVERDUE):
        return refresh_deadline_push(session, intent, message, now, tz=tz)
    if intent.kind == PICTURE:
        return refresh_picture(session, intent, message)
    return message
