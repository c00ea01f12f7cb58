"""Score sheets and their audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from storage.models import Contestant, Forum, Person, ScoreRevision, ScoreSheet


def sheets_for_forum(session: Session, forum_id: int) -> list[ScoreSheet]:
    return list(session.scalars(select(ScoreSheet).where(ScoreSheet.forum_id == forum_id)))


def count_sheets(session: Session, forum: Forum, judge_id: int | None = None) -> int:
    """Sheets of the venue's current judges for its current contestants (optionally one
    judge's): what "complete" and "how many left" are counted from."""
    judges = [j.person_id for j in forum.judges]
    query = (
        select(func.count())
        .select_from(ScoreSheet)
        .join(Contestant, Contestant.id == ScoreSheet.contestant_id)
        .where(
            ScoreSheet.forum_id == forum.id,
            Contestant.position > 0,
            ScoreSheet.judge_id.in_([judge_id] if judge_id is not None else judges),
        )
    )
    return int(session.scalar(query) or 0)


def contestant_totals(
    session: Session, forum_id: int, contestant_id: int
) -> list[tuple[int, Decimal, datetime | None]]:
    """(judge id, total, confirmed at) of every sheet for one contestant."""
    rows = session.execute(
        select(ScoreSheet.judge_id, ScoreSheet.total, ScoreSheet.confirmed_at).where(
            ScoreSheet.forum_id == forum_id, ScoreSheet.contestant_id == contestant_id
        )
    ).all()
    return [(judge, total, confirmed) for judge, total, confirmed in rows]


def get_sheet(
    session: Session, forum_id: int, judge_id: int, contestant_id: int
) -> ScoreSheet | None:
    return session.scalar(
        select(ScoreSheet).where(
            ScoreSheet.forum_id == forum_id,
            ScoreSheet.judge_id == judge_id,
            ScoreSheet.contestant_id == contestant_id,
        )
    )


def record_sheet(
    session: Session,
    *,
    forum: Forum,
    judge: Person,
    contestant: Contestant,
    total: Decimal,
    items: list[str] | None,
    action: str,
    now: datetime,
    inbound_id: int | None,
    source: str,
) -> ScoreSheet:
    """Create or replace the judge's sheet for the contestant and append the revision."""
    sheet = get_sheet(session, forum.id, judge.id, contestant.id)
    if sheet is None:
        sheet = ScoreSheet(
            forum_id=forum.id,
            judge_id=judge.id,
            contestant_id=contestant.id,
            total=total,
            items=items,
            revision=1,
            updated_at=now,
        )
        session.add(sheet)
    else:
        sheet.total = total
        sheet.items = items
        sheet.revision += 1
        sheet.updated_at = now
        sheet.confirmed_at = None
    session.flush()
    _revision(
        session,
        sheet,
        action=action,
        judge_id=judge.id,
        now=now,
        inbound_id=inbound_id,
        source=source,
    )
    return sheet


def confirm_sheet(
    session: Session,
    sheet: ScoreSheet,
    *,
    now: datetime,
    inbound_id: int | None,
    source: str,
) -> None:
    """The judge confirms an outlying total: it no longer blocks publishing."""
    sheet.confirmed_at = now
    session.flush()
    _revision(
        session,
        sheet,
        action="confirm",
        judge_id=sheet.judge_id,
        now=now,
        inbound_id=inbound_id,
        source=source,
    )


def _revision(
    session: Session,
    sheet: ScoreSheet,
    *,
    action: str,
    judge_id: int,
    now: datetime,
    inbound_id: int | None,
    source: str,
) -> None:
    session.add(
        ScoreRevision(
            sheet_id=sheet.id,
            revision=sheet.revision,
            action=action,
            total=sheet.total,
            items=sheet.items,
            judge_id=judge_id,
            recorded_at=now,
            inbound_id=inbound_id,
            source=source,
        )
    )
    session.flush()


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One row of the audit trail, ready to print."""

    recorded_at: datetime
    judge: str
    contestant: str
    action: str
    revision: int
    total: Decimal
    items: list[str] | None
    source: str


def audit_trail(session: Session, forum_id: int) -> list[AuditLine]:
    judge = aliased(Person)
    rows = session.execute(
        select(ScoreRevision, judge.name, Contestant.name)
        .join(ScoreSheet, ScoreSheet.id == ScoreRevision.sheet_id)
        .join(judge, judge.id == ScoreRevision.judge_id)
        .join(Contestant, Contestant.id == ScoreSheet.contestant_id)
        .where(ScoreSheet.forum_id == forum_id)
        .order_by(ScoreRevision.recorded_at, ScoreRevision.id)
    ).all()
    return [
        AuditLine(
            rev.recorded_at,
            judge_name,
            contestant_name,
            rev.action,
            rev.revision,
            rev.total,
            rev.items,
            rev.source,
        )
        for rev, judge_name, contestant_name in rows
    ]
