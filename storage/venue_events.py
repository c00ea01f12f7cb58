"""The audit of a venue's publication (公布, 撤销公布): who, when, from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Person, VenueEvent


@dataclass(frozen=True, slots=True)
class VenueEventLine:
    """One publication event as the audit shows it."""

    recorded_at: datetime
    action: str
    person: str
    source: str


def record_venue_event(
    session: Session,
    *,
    venue_id: int,
    action: str,
    person_id: int | None,
    now: datetime,
    inbound_id: int | None,
    source: str,
) -> None:
    """Add one event (``publish``, ``auto_publish`` or ``unpublish``)."""
    session.add(
        VenueEvent(
            venue_id=venue_id,
            action=action,
            person_id=person_id,
            recorded_at=now,
            inbound_id=inbound_id,
            source=source,
        )
    )
    session.flush()


def count_venue_events(session: Session, venue_id: int, action: str) -> int:
    """How many times ``action`` happened to the venue."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(VenueEvent)
            .where(VenueEvent.venue_id == venue_id, VenueEvent.action == action)
        )
        or 0
    )


def venue_events(session: Session, venue_id: int) -> list[VenueEventLine]:
    """Every event of the venue, oldest first."""
    rows = session.execute(
        select(VenueEvent.recorded_at, VenueEvent.action, Person.name, VenueEvent.source)
        .outerjoin(Person, Person.id == VenueEvent.person_id)
        .where(VenueEvent.venue_id == venue_id)
        .order_by(VenueEvent.recorded_at, VenueEvent.id)
    )
    return [VenueEventLine(at, action, name or "", source) for at, action, name, source in rows]
