"""Repository of ``bindings`` and ``config_edits`` (``storage.setup_models``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.meta import CATALOG, bump
from storage.models import Group, Person
from storage.setup_models import APPROVED, PENDING, WRITTEN, Binding, ConfigEdit

RELOAD = "config_reload"
"""Meta counter bumped by ``edubot reload``: every serve instance reloads its file."""

PERSON = "person"
GROUP = "group"


def add_binding(
    session: Session,
    *,
    kind: str,
    platform: str,
    platform_id: str,
    target: str,
    unit: str = "",
    via: str,
    now: datetime,
) -> Binding:
    """A new pending request (the caller approves it at once where it may)."""
    row = Binding(
        kind=kind,
        platform=platform,
        platform_id=platform_id,
        target=target,
        unit=unit,
        via=via,
        state=PENDING,
        requested_at=now,
        decided_by="",
        reason="",
    )
    session.add(row)
    session.flush()
    return row


def decide(
    session: Session, row: Binding, state: str, *, by: str, now: datetime, reason: str = ""
) -> None:
    """Approve or refuse ``row``; an approved one is applied to its person or group now
    (and the catalog counter bumped, last: see ``storage.day_of``)."""
    row.state = state
    row.decided_by = by
    row.decided_at = now
    row.reason = reason[:255]
    if state == APPROVED:
        apply_bindings(session, [row])
        bump(session, CATALOG)
    session.flush()


def pending(session: Session, kind: str | None = None) -> list[Binding]:
    """The requests waiting for an organizer, oldest first."""
    query = select(Binding).where(Binding.state == PENDING)
    if kind is not None:
        query = query.where(Binding.kind == kind)
    return list(session.scalars(query.order_by(Binding.id)))


def pending_from(session: Session, platform: str, platform_id: str, kind: str) -> Binding | None:
    """This account's (or chat's) open request, if any."""
    return session.scalar(
        select(Binding).where(
            Binding.state == PENDING,
            Binding.kind == kind,
            Binding.platform == platform,
            Binding.platform_id == platform_id,
        )
    )


def approved(session: Session) -> list[Binding]:
    """Every approved binding, oldest first (a later one wins where two disagree)."""
    return list(
        session.scalars(select(Binding).where(Binding.state == APPROVED).order_by(Binding.id))
    )


def apply_bindings(session: Session, rows: Sequence[Binding]) -> None:
    """Write the approved ``rows`` onto the active people and groups they name.

    The config sync calls this after copying the file, so an id bound in chat outlives a
    file that still lacks it; an id the file already gives (to anyone) wins over the chat.
    """
    for row in rows:
        if row.kind == PERSON:
            column = "wecom_userid" if row.platform == "wecom" else "dingtalk_userid"
            attr = getattr(Person, column)
            taken = session.scalar(select(Person.id).where(attr == row.platform_id))
            person = session.scalar(select(Person).where(Person.name == row.target))
            if person is None or not person.active or getattr(person, column) or taken:
                continue
            setattr(person, column, row.platform_id)
        else:
            group = session.scalar(select(Group).where(Group.key == row.target))
            if group is None or not group.active or group.chat_id:
                continue
            group.chat_id = row.platform_id
    session.flush()


def add_edit(
    session: Session,
    *,
    kind: str,
    venue_key: str,
    change: dict[str, Any],
    by: str,
    source: str,
    now: datetime,
) -> ConfigEdit:
    """Record an organizer's change; the service writes it into the file (``pending_edits``)."""
    row = ConfigEdit(
        kind=kind,
        venue_key=venue_key,
        change=change,
        requested_by=by,
        source=source[:191],
        created_at=now,
        state=PENDING,
        note="",
    )
    session.add(row)
    session.flush()
    return row


def pending_edits(session: Session, *, latest: bool = False) -> list[ConfigEdit]:
    """Chat edits not yet in the file, in the order they were made. ``latest``: a locking
    read, which sees edits committed since the transaction's snapshot (InnoDB)."""
    query = select(ConfigEdit).where(ConfigEdit.state == PENDING).order_by(ConfigEdit.id)
    return list(session.scalars(query.with_for_update() if latest else query))


def mark_edits(
    session: Session, ids: Sequence[int], now: datetime, note: str = "", *, state: str = WRITTEN
) -> int:
    """Mark pending edits ``written`` (or ``failed``, with the reason in ``note``); only
    rows still pending change, so two instances settle each edit once."""
    if not ids:
        return 0
    result = session.execute(
        update(ConfigEdit)
        .where(ConfigEdit.id.in_(ids), ConfigEdit.state == PENDING)
        .values(state=state, written_at=now, note=note[:255])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def request_reload(session: Session) -> None:
    """``edubot reload``: every serve instance reloads its config at its next poll."""
    bump(session, RELOAD)
