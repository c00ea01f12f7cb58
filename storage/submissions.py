"""Deadlines and submissions: finding a deadline by what people type, recording versions.

Who still owes is a pure rule (``handlers.deadlines``); this module only reads and writes
rows, so the rule sees exactly what is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, lazyload

from storage.models import (
    Deadline,
    DeadlineSubmitter,
    InboundMessageRow,
    Person,
    Submission,
)
from storage.people import Member

# Quotes, brackets and spaces people add or drop around a title (“提升质量年”实施方案).
_FOLD = re.compile(r"[\s\"'“”‘’「」『』【】《》()（）]+")


def _fold(text: str) -> str:
    return _FOLD.sub("", text).lower()


def active_deadlines(session: Session) -> list[Deadline]:
    """Deadlines in the current config, soonest first. Their submitters load when first
    read: a term of weekly periods for 500 units is thousands of rows nobody may need."""
    return list(
        session.scalars(
            select(Deadline)
            .where(Deadline.active.is_(True))
            .order_by(Deadline.due_at, Deadline.id)
            .options(lazyload(Deadline.submitters))
        )
    )


def current_deadlines(session: Session, now: datetime) -> list[Deadline]:
    """The active deadlines people are working on at ``now``: every one-off, and of each
    repeating one that has started the period that runs now (the first not yet due, else
    the last)."""
    chosen: dict[str, Deadline] = {}
    out: list[Deadline] = []
    for deadline in active_deadlines(session):
        if not deadline.series:
            out.append(deadline)
            continue
        if deadline.opens_at is not None and deadline.opens_at > now:
            continue
        held = chosen.get(deadline.series)
        if held is None or held.due_at < now:
            if held is not None:
                out.remove(held)
            chosen[deadline.series] = deadline
            out.append(deadline)
    return sorted(out, key=lambda d: (d.due_at, d.id))


def deadline_by_key(session: Session, key: str) -> Deadline | None:
    """The deadline with this key, active or not (callers check ``active``)."""
    return session.scalar(select(Deadline).where(Deadline.key == key))


@dataclass(frozen=True, slots=True)
class DeadlineMatch:
    """The deadline a name refers to, or the candidates when it is ambiguous (or none)."""

    deadline: Deadline | None
    candidates: tuple[Deadline, ...] = ()
    periods: tuple[Deadline, ...] = ()
    """For a repeating deadline: all its periods in the pool, by due time (``deadline`` is
    the first); the caller picks the period."""


def find_deadline(
    session: Session, text: str, among: list[Deadline] | None = None
) -> DeadlineMatch:
    """Match ``text`` against key, title and aliases: exact, then unique prefix, then unique
    substring. Quotes, brackets, spaces and case are ignored."""
    wanted = _fold(text)
    pool = active_deadlines(session) if among is None else among
    if not wanted:
        return DeadlineMatch(None)

    def names(d: Deadline) -> list[str]:
        return [_fold(n) for n in (d.series or d.key, d.title, *d.aliases) if n]

    for test in (
        lambda n: n == wanted,
        lambda n: n.startswith(wanted),
        lambda n: wanted in n,
    ):
        hits = [d for d in pool if any(test(n) for n in names(d))]
        series = {d.series or f"#{d.id}" for d in hits}
        if len(series) == 1 and hits[0].series:
            periods = tuple(sorted(hits, key=lambda d: (d.due_at, d.id)))
            return DeadlineMatch(periods[0], periods=periods)
        if len(hits) == 1:
            return DeadlineMatch(hits[0])
        if hits:
            return DeadlineMatch(None, tuple(hits))
    return DeadlineMatch(None)


def duties_of(session: Session, person: Member) -> list[tuple[Deadline, DeadlineSubmitter]]:
    """Active deadlines that list ``person`` by name or their unit, with the entry that
    their submission counts for (their own name before their unit)."""
    wanted = [("person", person.name)] + ([("unit", person.unit)] if person.unit else [])
    found: dict[int, tuple[Deadline, DeadlineSubmitter]] = {}
    for kind, name in wanted:
        rows = session.execute(
            select(Deadline, DeadlineSubmitter)
            .join(DeadlineSubmitter, DeadlineSubmitter.deadline_id == Deadline.id)
            .where(
                Deadline.active.is_(True),
                DeadlineSubmitter.kind == kind,
                DeadlineSubmitter.name == name,
            )
            .order_by(Deadline.due_at, Deadline.id)
        )
        for deadline, entry in rows:
            found.setdefault(deadline.id, (deadline, entry))
    return sorted(found.values(), key=lambda pair: (pair[0].due_at, pair[0].id))


def active_people(session: Session) -> list[Person]:
    """Everyone in the current config, as rows, by id: whom the deadline rules count."""
    return list(session.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.id)))


def submissions_for(session: Session, deadline_id: int) -> list[Submission]:
    """Every version for a deadline, oldest first."""
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.deadline_id == deadline_id)
            .order_by(Submission.submitted_at, Submission.id)
        )
    )


def next_version(session: Session, deadline_id: int, owner: str) -> int:
    """The version a new submission for (``deadline_id``, ``owner``) gets: one past the
    highest so far."""
    top = session.scalar(
        select(func.max(Submission.version)).where(
            Submission.deadline_id == deadline_id, Submission.owner == owner
        )
    )
    return (top or 0) + 1


def record_submission(
    session: Session,
    *,
    deadline: Deadline,
    owner: str,
    person: Member,
    now: datetime,
    version: int | None = None,
    content: str = "",
    file_name: str = "",
    file_path: str = "",
    file_size: int = 0,
    inbound_id: int | None = None,
    source: str = "",
    due: datetime | None = None,
    values: dict[str, str] | None = None,
) -> Submission:
    """Add the next version for (deadline, owner); late when ``now`` is after the due time
    (``due``: the entry's own, when it was extended)."""
    row = Submission(
        deadline_id=deadline.id,
        owner=owner,
        person_id=person.id,
        version=version if version is not None else next_version(session, deadline.id, owner),
        submitted_at=now,
        late=now > (due or deadline.due_at),
        values=values,
        content=content,
        file_name=file_name[:255],
        file_path=file_path[:512],
        file_size=file_size,
        inbound_id=inbound_id,
        source=source[:160],
    )
    session.add(row)
    session.flush()
    return row


def last_text_from(
    session: Session, person_id: int, since: datetime, *, before: int | None = None
) -> str:
    """The newest non-empty text this person sent since ``since`` ("" if none), other than
    the message ``before`` (the one being handled).

    A file message carries no command, so "提交 实施方案" sent just before it says which
    deadline the file is for, even when the file came with a caption ("见附件").
    """
    text = session.scalar(
        select(InboundMessageRow.text)
        .where(
            InboundMessageRow.person_id == person_id,
            InboundMessageRow.received_at >= since,
            InboundMessageRow.text != "",
            InboundMessageRow.id != (before if before is not None else -1),
        )
        .order_by(InboundMessageRow.received_at.desc(), InboundMessageRow.id.desc())
        .limit(1)
    )
    return text or ""
