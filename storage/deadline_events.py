"""What organizers did to a deadline's entries (退回, 通过, 免交, 延期, 催交), kept as an audit.

The table is also where an entry's exemption and extension live: the newest 免交 / 延期 /
撤销 event of an entry decides (``overrides_for``), so the history is never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, Person

RETURNED = "returned"
ACCEPTED = "accepted"
EXEMPTED = "exempted"
EXTENDED = "extended"
URGED = "urged"
ACTIONS = (RETURNED, ACCEPTED, EXEMPTED, EXTENDED, URGED)


class DeadlineEvent(Base):
    """One organizer action on a deadline (a period of a repeating one) and an entry."""

    __tablename__ = "deadline_events"
    __table_args__ = (Index("ix_deadline_events_deadline_owner", "deadline_id", "owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id"))
    owner: Mapped[str] = mapped_column(String(128), default="")
    """The entry (unit or person); ``""`` for an event about the whole deadline (催交)."""
    action: Mapped[str] = mapped_column(String(16))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    until: Mapped[datetime | None] = mapped_column()
    """延期: the entry's own due time."""
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    recorded_at: Mapped[datetime] = mapped_column()
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    source: Mapped[str] = mapped_column(String(160), default="")


def record_deadline_event(
    session: Session,
    *,
    deadline_id: int,
    action: str,
    now: datetime,
    owner: str = "",
    person_id: int | None = None,
    submission_id: int | None = None,
    note: str = "",
    until: datetime | None = None,
    inbound_id: int | None = None,
    source: str = "",
) -> DeadlineEvent:
    """Add one event to the audit."""
    if action not in ACTIONS:
        raise ValueError(f"unknown deadline action '{action}'")
    row = DeadlineEvent(
        deadline_id=deadline_id,
        owner=owner,
        action=action,
        submission_id=submission_id,
        note=note,
        until=until,
        person_id=person_id,
        recorded_at=now,
        inbound_id=inbound_id,
        source=source[:160],
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class Overrides:
    """Entries of one deadline that are exempt (免交) or have their own due time (延期)."""

    exempt: frozenset[str] = frozenset()
    extended: dict[str, datetime] = field(default_factory=dict)

    def due_for(self, owner: str, due: datetime) -> datetime:
        """The entry's due time: its extension, else the deadline's."""
        return self.extended.get(owner, due)


def overrides_for(session: Session, deadline_id: int) -> Overrides:
    """The exemptions and extensions in force, from the events in order."""
    rows = session.execute(
        select(DeadlineEvent.owner, DeadlineEvent.action, DeadlineEvent.until)
        .where(
            DeadlineEvent.deadline_id == deadline_id,
            DeadlineEvent.action.in_((EXEMPTED, EXTENDED)),
        )
        .order_by(DeadlineEvent.recorded_at, DeadlineEvent.id)
    )
    exempt: set[str] = set()
    extended: dict[str, datetime] = {}
    for owner, action, until in rows:
        if action == EXEMPTED:
            exempt.add(owner)
            extended.pop(owner, None)
        elif until is not None:
            exempt.discard(owner)
            extended[owner] = until
    return Overrides(frozenset(exempt), extended)


@dataclass(frozen=True, slots=True)
class EventLine:
    """One event as the 已交 list and the export show it."""

    recorded_at: datetime
    owner: str
    action: str
    note: str
    person: str


def deadline_events(session: Session, deadline_id: int) -> list[EventLine]:
    """Every event of the deadline, oldest first."""
    rows = session.execute(
        select(
            DeadlineEvent.recorded_at,
            DeadlineEvent.owner,
            DeadlineEvent.action,
            DeadlineEvent.note,
            Person.name,
        )
        .outerjoin(Person, Person.id == DeadlineEvent.person_id)
        .where(DeadlineEvent.deadline_id == deadline_id)
        .order_by(DeadlineEvent.recorded_at, DeadlineEvent.id)
    )
    return [EventLine(at, who, action, note, name or "") for at, who, action, note, name in rows]
