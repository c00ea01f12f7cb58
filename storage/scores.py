"""Score sheets and their audit trail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from storage.db import execute_core, insert_id
from storage.models import Contestant, Person, ScoreRevision, ScoreSheet, Venue, VenueJudge
from storage.prepared import run
from storage.scores_pg import FirstScore, record_first_score

_SHEETS: Table = ScoreSheet.__table__  # type: ignore[assignment]
_REVISIONS: Table = ScoreRevision.__table__  # type: ignore[assignment]

# The statements a score line runs, built once. Building a statement costs several times
# what SQLite takes to run it; these run for every message (see README, Benchmarks).
_JUDGES: Table = VenueJudge.__table__  # type: ignore[assignment]
_COUNTS = select(VenueJudge.person_id, VenueJudge.scored).where(
    VenueJudge.venue_id == bindparam("venue")
)
_TALLY = (
    update(_JUDGES)
    .where(_JUDGES.c.forum_id == bindparam("venue"), _JUDGES.c.person_id == bindparam("judge"))
    .values(scored=_JUDGES.c.scored + 1)
)
_SCORED_NOW = (
    select(func.count())
    .select_from(ScoreSheet)
    .join(Contestant, Contestant.id == ScoreSheet.contestant_id)
    .where(
        ScoreSheet.venue_id == _JUDGES.c.forum_id,
        ScoreSheet.judge_id == _JUDGES.c.person_id,
        Contestant.position > 0,
    )
    .scalar_subquery()
)
_RECOUNT = (
    update(_JUDGES).where(_JUDGES.c.forum_id == bindparam("venue")).values(scored=_SCORED_NOW)
)
_LOCK_TALLIES = (
    select(_JUDGES.c.person_id).where(_JUDGES.c.forum_id == bindparam("venue")).with_for_update()
)
_LOCK_VENUE = select(Venue.id).where(Venue.id == bindparam("venue")).with_for_update(key_share=True)
_STATE = select(Venue.completed_at, Venue.published_at, Venue.auto_publish).where(
    Venue.id == bindparam("venue")
)
_TOTALS = select(ScoreSheet.judge_id, ScoreSheet.total, ScoreSheet.confirmed_at).where(
    ScoreSheet.venue_id == bindparam("venue"), ScoreSheet.contestant_id == bindparam("contestant")
)
_SHEET = select(
    ScoreSheet.id, ScoreSheet.total, ScoreSheet.items, ScoreSheet.revision, ScoreSheet.confirmed_at
).where(
    ScoreSheet.venue_id == bindparam("venue"),
    ScoreSheet.judge_id == bindparam("judge"),
    ScoreSheet.contestant_id == bindparam("contestant"),
)
_COMPLETE = (
    update(Venue)
    .where(Venue.id == bindparam("venue"), Venue.completed_at.is_(None))
    .values(completed_at=bindparam("now"))
)
_STATE_AND_SHEET = (
    select(
        Venue.completed_at,
        Venue.published_at,
        Venue.auto_publish,
        ScoreSheet.id,
        ScoreSheet.total,
        ScoreSheet.items,
        ScoreSheet.revision,
        ScoreSheet.confirmed_at,
    )
    .select_from(Venue)
    .outerjoin(
        ScoreSheet,
        (ScoreSheet.venue_id == Venue.id)
        & (ScoreSheet.judge_id == bindparam("judge"))
        & (ScoreSheet.contestant_id == bindparam("contestant")),
    )
    .where(Venue.id == bindparam("venue"))
)
_NEW_SHEET = insert(_SHEETS)
_REVISE_SHEET = update(_SHEETS).where(_SHEETS.c.id == bindparam("sheet"))
_CONFIRM_SHEET = _REVISE_SHEET.values(confirmed_at=bindparam("confirmed"))
_NEW_REVISION = insert(_REVISIONS)


_VENUE_SHEETS = select(
    ScoreSheet.judge_id,
    ScoreSheet.contestant_id,
    ScoreSheet.total,
    ScoreSheet.items,
    ScoreSheet.confirmed_at,
).where(ScoreSheet.venue_id == bindparam("venue"))


def sheets_for_venue(
    session: Session, venue_id: int
) -> list[tuple[int, int, Decimal, list[str] | None, datetime | None]]:
    """(judge id, contestant id, total, items, confirmed at) of every sheet of a venue: plain
    rows, not ORM objects, since a venue can hold tens of thousands."""
    rows = session.connection().execute(_VENUE_SHEETS, {"venue": venue_id})  # no ORM rows
    return [tuple(row) for row in rows]  # type: ignore[misc]


def sheet_counts(session: Session, venue_id: int, judge_ids: Iterable[int]) -> dict[int, int]:
    """How many of the venue's current contestants (position ≥ 1) each of ``judge_ids`` has
    scored: what "complete" and "how many left" are counted from. Sheets of people who are
    no longer judges of the venue do not count. Read from the tallies kept on the judges'
    rows (one row per judge), not counted from the sheets."""
    counts = dict.fromkeys(judge_ids, 0)
    for judge, n in run(session, _COUNTS, {"venue": venue_id}):
        if judge in counts:
            counts[judge] = int(n)
    return counts


def writers_take_turns(session: Session) -> bool:
    """Whether the session's database runs one writer at a time (SQLite): then a
    transaction sees every other one that committed before it, and none commits while it
    runs. On a database server transactions run side by side, each seeing only what was
    committed when its statement began."""
    return session.get_bind().dialect.name == "sqlite"


def recount_sheets(session: Session, venue_id: int) -> None:
    """Count the tallies of ``sheet_counts`` again from the sheets: after the venue's judges
    or contestants changed (a removed contestant's sheets stop counting).

    The tally rows are locked first, in a statement of their own: a score that holds one
    commits before the recount counts. In one ``UPDATE``, PostgreSQL would wait for that
    row and then count with the snapshot the statement began with, without the score's
    sheet (a tally one short: the venue would never look complete)."""
    execute_core(session, _LOCK_TALLIES, {"venue": venue_id}).all()
    execute_core(session, _RECOUNT, {"venue": venue_id})


def count_sheets(session: Session, venue: Venue) -> int:
    """Sheets of the venue's current judges for its current contestants."""
    return sum(sheet_counts(session, venue.id, [j.person_id for j in venue.judges]).values())


@dataclass(frozen=True, slots=True)
class VenueState:
    """What changes while a venue runs (the rest is config: ``handlers.catalog``)."""

    completed_at: datetime | None
    published_at: datetime | None
    auto_publish: bool = False

    @property
    def locked(self) -> bool:
        """Published (公布): its scores can no longer change."""
        return self.published_at is not None


def venue_state(session: Session, venue_id: int) -> VenueState:
    """When the venue was completed and published, as committed now (not from the
    catalog, which holds only the config)."""
    completed, published, auto = run(session, _STATE, {"venue": venue_id}).one()
    return VenueState(completed, published, bool(auto))


def lock_venue(session: Session, venue_id: int) -> None:
    """Lock the venue's row until the transaction ends; SQLite's writers take turns without
    it. A read after it sees every change committed before. On PostgreSQL ``FOR NO KEY
    UPDATE``: two such locks take turns, as an ``UPDATE`` of the row does, while the
    foreign-key checks of rows inserted under the venue (sheets, contestants, events) do not
    wait for it, nor it for them (MariaDB: ``FOR UPDATE``)."""
    execute_core(session, _LOCK_VENUE, {"venue": venue_id}).all()


def mark_completed(session: Session, venue_id: int, now: datetime) -> bool:
    """Record that the venue's last sheet came in at ``now``; False, changing nothing, when
    it was completed before (by another message committed since this one read the venue's
    state, say). A ``Venue`` the session holds reads the time again."""
    marked = run(session, _COMPLETE, {"venue": venue_id, "now": now}).rowcount == 1
    held = session.identity_map.get(Session.identity_key(Venue, venue_id))
    if held is not None:
        session.expire(held, ["completed_at"])
    return marked


def contestant_totals(
    session: Session, venue_id: int, contestant_id: int
) -> list[tuple[int, Decimal, datetime | None]]:
    """(judge id, total, confirmed at) of every sheet for one contestant."""
    rows = run(session, _TOTALS, {"venue": venue_id, "contestant": contestant_id})
    return [(judge, total, confirmed) for judge, total, confirmed in rows]


@dataclass(frozen=True, slots=True)
class StoredSheet:
    """A score sheet as stored: what a scoring line compares against and revises."""

    id: int
    total: Decimal
    items: list[str] | None
    revision: int
    confirmed_at: datetime | None = None


def get_sheet(
    session: Session, venue_id: int, judge_id: int, contestant_id: int
) -> StoredSheet | None:
    """The judge's current sheet for the contestant; None before the first score."""
    params = {"venue": venue_id, "judge": judge_id, "contestant": contestant_id}
    row = run(session, _SHEET, params).first()
    return None if row is None else StoredSheet(*row)


def state_and_sheet(
    session: Session, venue_id: int, judge_id: int, contestant_id: int
) -> tuple[VenueState, StoredSheet | None]:
    """``venue_state`` and ``get_sheet`` in one statement (one round trip): what every
    score line reads first."""
    params = {"venue": venue_id, "judge": judge_id, "contestant": contestant_id}
    completed, published, auto, *sheet = run(session, _STATE_AND_SHEET, params).one()
    state = VenueState(completed, published, bool(auto))
    return state, None if sheet[0] is None else StoredSheet(*sheet)


@dataclass(frozen=True, slots=True)
class RecordedSheet(StoredSheet):
    """A sheet just written, with what the statement that wrote it also read (a first score
    on PostgreSQL, ``storage.scores_pg``): the venue's tallies and the contestant's sheets
    after it. ``None``: not read yet (``counts_after``, ``totals_after`` read them)."""

    counts: dict[int, int] | None = None
    totals: list[tuple[int, Decimal, datetime | None]] | None = None

    @classmethod
    def first(cls, written: FirstScore, total: Decimal, items: list[str] | None) -> RecordedSheet:
        """A first score (revision 1, unconfirmed) as its statement wrote and read it."""
        return cls(written.sheet_id, total, items, 1, None, written.counts, written.totals)


def counts_after(
    session: Session, sheet: StoredSheet, venue_id: int, judge_ids: Iterable[int]
) -> dict[int, int]:
    """``sheet_counts`` after writing ``sheet``: from the write itself when it read them."""
    if isinstance(sheet, RecordedSheet) and sheet.counts is not None:
        return {judge: sheet.counts.get(judge, 0) for judge in judge_ids}
    return sheet_counts(session, venue_id, judge_ids)


def totals_after(
    session: Session, sheet: StoredSheet, venue_id: int, contestant_id: int
) -> list[tuple[int, Decimal, datetime | None]]:
    """``contestant_totals`` after writing ``sheet``: from the write when it read them."""
    if isinstance(sheet, RecordedSheet) and sheet.totals is not None:
        return sheet.totals
    return contestant_totals(session, venue_id, contestant_id)


def record_sheet(
    session: Session,
    *,
    venue_id: int,
    judge_id: int,
    contestant_id: int,
    total: Decimal,
    items: list[str] | None,
    action: str,
    now: datetime,
    inbound_id: int | None,
    source: str,
    existing: StoredSheet | None = None,
) -> StoredSheet:
    """Create or replace the judge's sheet for the contestant and append the revision.

    ``existing`` is the sheet the caller already read in this transaction (None: none yet).
    A new sheet adds one to the judge's tally (the caller scores current contestants only).
    A concurrent first score of the same sheet fails on the unique index, and the message
    is retried as a whole. On PostgreSQL a first score is one statement that also reads the
    tallies and the contestant's sheets (a ``RecordedSheet``).
    """
    values = {"total": total, "items": items, "updated_at": now, "confirmed_at": None}
    if existing is None and session.get_bind().dialect.name == "postgresql":
        params: dict[str, Any] = {"venue": venue_id, "judge": judge_id, "contestant": contestant_id}
        params |= {"total": total, "items": items, "now": now, "action": action}
        first = record_first_score(session, params | {"inbound": inbound_id, "source": source})
        return RecordedSheet.first(first, total, items)
    if existing is None:
        row = {"forum_id": venue_id, "judge_id": judge_id, "contestant_id": contestant_id}
        sheet_id = insert_id(session, _NEW_SHEET, row | values | {"revision": 1})
        run(session, _TALLY, {"venue": venue_id, "judge": judge_id})
        sheet = StoredSheet(sheet_id, total, items, 1)
    else:
        revision = existing.revision + 1
        run(session, _REVISE_SHEET, {"sheet": existing.id, "revision": revision} | values)
        sheet = StoredSheet(existing.id, total, items, revision)
    _revision(
        session,
        sheet,
        action=action,
        judge_id=judge_id,
        now=now,
        inbound_id=inbound_id,
        source=source,
    )
    return sheet


def confirm_sheet(
    session: Session,
    sheet: StoredSheet,
    *,
    judge_id: int,
    now: datetime,
    inbound_id: int | None,
    source: str,
) -> None:
    """The judge confirms an outlying total: it no longer blocks publishing."""
    run(session, _CONFIRM_SHEET, {"sheet": sheet.id, "confirmed": now})
    _revision(
        session,
        sheet,
        action="confirm",
        judge_id=judge_id,
        now=now,
        inbound_id=inbound_id,
        source=source,
    )


def _revision(
    session: Session,
    sheet: StoredSheet,
    *,
    action: str,
    judge_id: int,
    now: datetime,
    inbound_id: int | None,
    source: str,
) -> None:
    run(
        session,
        _NEW_REVISION,
        {
            "sheet_id": sheet.id,
            "revision": sheet.revision,
            "action": action,
            "total": sheet.total,
            "items": sheet.items,
            "judge_id": judge_id,
            "recorded_at": now,
            "inbound_id": inbound_id,
            "source": source,
        },
    )


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


def audit_trail(session: Session, venue_id: int, *, limit: int | None = None) -> list[AuditLine]:
    """Every revision of the venue's sheets, oldest first, judges and contestants by name:
    the 修改记录 sheet of the xlsx export. With ``limit``, only the newest ``limit``."""
    judge = aliased(Person)
    query = (
        select(
            ScoreRevision.recorded_at,
            judge.name,
            Contestant.name,
            ScoreRevision.action,
            ScoreRevision.revision,
            ScoreRevision.total,
            ScoreRevision.items,
            ScoreRevision.source,
        )
        .join(ScoreSheet, ScoreSheet.id == ScoreRevision.sheet_id)
        .join(judge, judge.id == ScoreRevision.judge_id)
        .join(Contestant, Contestant.id == ScoreSheet.contestant_id)
        .where(ScoreSheet.venue_id == venue_id)
    )
    if limit is None:
        rows = session.execute(query.order_by(ScoreRevision.recorded_at, ScoreRevision.id))
        return [AuditLine(*row) for row in rows]
    newest = query.order_by(ScoreRevision.recorded_at.desc(), ScoreRevision.id.desc()).limit(limit)
    return [AuditLine(*row) for row in reversed(session.execute(newest).all())]
