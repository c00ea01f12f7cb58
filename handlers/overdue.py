"""Who is overdue at a time: the entries still owing, less those whose 延期 runs past it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.deadlines import EntryState
from handlers.submissions import deadline_states
from storage.deadline_events import overrides_for
from storage.models import Deadline, Person


def overdue_states(
    session: Session, deadline: Deadline, at: datetime, people: Sequence[Person] | None = None
) -> list[EntryState]:
    """``deadline``'s entries as the overdue list at ``at`` counts them: an entry given its
    own later due time (延期) is left out until that time has passed."""
    states = deadline_states(session, deadline, people)
    extended = overrides_for(session, deadline.id).extended
    if not extended:
        return states
    return [
        s
        for s in states
        if not (s.state == "missing" and extended.get(s.entry.name, deadline.due_at) > at)
    ]
