"""The database side of an organizer's day-of change (``handlers.day_of``): the same rows a
config sync would write for the changed file, so the sync that follows changes nothing.

Each bumps the catalog counter *last*, as a config sync does: whoever holds the ``meta`` row
has nothing left to wait for but its commit, so a chat edit and a reload queue instead of
deadlocking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.meta import CATALOG, bump
from storage.models import Contestant, Person, ScoreSheet, Venue
from storage.scores import recount_sheets


def sheets_of(session: Session, venue_id: int, judge_id: int) -> int:
    """How many contestants ``judge_id`` has scored on the venue."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ScoreSheet)
            .where(ScoreSheet.venue_id == venue_id, ScoreSheet.judge_id == judge_id)
        )
        or 0
    )


def swap_judge(session: Session, venue: Venue, old_id: int, new: Person) -> None:
    """``new`` takes ``old_id``'s seat (same position) on the venue."""
    for seat in venue.judges:
        if seat.person_id == old_id:
            seat.person = new
    session.flush()
    recount_sheets(session, venue.id)
    bump(session, CATALOG)


def add_contestant(session: Session, venue: Venue, name: str) -> int:
    """Append ``name`` after the venue's contestants (a removed one of that name comes
    back with its old sheets); its position."""
    rows = list(session.scalars(select(Contestant).filter_by(venue_id=venue.id)))
    position = max((c.position for c in rows), default=0) + 1
    row = next((c for c in rows if c.name == name), None)
    if row is None:
        session.add(Contestant(venue_id=venue.id, name=name, position=position))
    else:
        row.position = position
    session.flush()
    session.expire(venue, ["contestants"])
    recount_sheets(session, venue.id)
    bump(session, CATALOG)
    return position


def move_venue(session: Session, venue: Venue, starts_at: datetime) -> None:
    """The venue's new start time."""
    venue.starts_at = starts_at
    session.flush()
    bump(session, CATALOG)
