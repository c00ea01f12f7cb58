"""A first score on PostgreSQL in one statement (one round trip instead of five).

A new sheet is four writes and reads in a row: insert the sheet, append its first revision,
add one to the judge's tally, then read every judge's tally ("还剩 N 位", completion) and
the contestant's sheets (the outlier check). On PostgreSQL each is a round trip to the
server; here they are one statement of data-modifying CTEs (``INSERT … RETURNING``,
``UPDATE … RETURNING``). What it returns is what the separate reads would have returned:

- the judge's own tally comes from the ``UPDATE … RETURNING`` (the value after this
  transaction's increment, taken under the row lock, as a later read would see it);
  the other judges' tallies are read in the same statement;
- the contestant's sheets are the other judges' (read) plus the new one (from the insert's
  values: the statement's snapshot does not see its own insert).

The same writes can also wait on what the statement reads first
(``score_if_new_statement``, ``storage.new_scores``): the venue's state and the judge's
sheet, with the first score written only when the venue is not published and there is no
sheet yet; a new score line is then one round trip in all.

SQLite and MariaDB have no data-modifying CTEs and run the separate statements
(``storage.scores.record_sheet``); they are local or cheap round trips there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CTE,
    CompoundSelect,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    cast,
    exists,
    insert,
    literal,
    null,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from storage.models import ScoreRevision, ScoreSheet, VenueJudge
from storage.prepared import run

_SHEETS: Table = ScoreSheet.__table__  # type: ignore[assignment]
_REVISIONS: Table = ScoreRevision.__table__  # type: ignore[assignment]
_JUDGES: Table = VenueJudge.__table__  # type: ignore[assignment]

_venue = bindparam("venue", type_=Integer)
_judge = bindparam("judge", type_=Integer)
_contestant = bindparam("contestant", type_=Integer)
_total = bindparam("total", type_=_SHEETS.c.total.type)
_items = bindparam("items", type_=_SHEETS.c["items"].type)
_now = bindparam("now", type_=_SHEETS.c.updated_at.type)

_SHEET_COLUMNS = ["forum_id", "judge_id", "contestant_id", "total", "items", "revision"]
_SHEET_COLUMNS += ["updated_at", "confirmed_at"]
_SHEET_VALUES = (_venue, _judge, _contestant, _total, _items, literal(1, Integer), _now)
_REVISION_COLUMNS = ["sheet_id", "revision", "action", "total", "items", "judge_id"]
_REVISION_COLUMNS += ["recorded_at", "inbound_id", "source"]


def _revision_of(new_sheet: CTE) -> CTE:
    """The first revision of the sheet ``new_sheet`` wrote (none when it wrote none)."""
    return (
        insert(_REVISIONS)
        .from_select(
            _REVISION_COLUMNS,
            select(
                new_sheet.c.id,
                literal(1, Integer),
                bindparam("action", type_=String),
                _total,
                _items,
                _judge,
                _now,
                bindparam("inbound", type_=Integer),
                bindparam("source", type_=String),
            ),
        )
        .cte("new_revision")
    )


def _tally_of(new_sheet: CTE) -> CTE:
    """The judge's tally, one up when ``new_sheet`` wrote a sheet; its value after."""
    return (
        update(_JUDGES)
        .where(
            _JUDGES.c.forum_id == _venue,
            _JUDGES.c.person_id == _judge,
            exists(select(new_sheet.c.id)),
        )
        .values(scored=_JUDGES.c.scored + 1)
        .returning(_JUDGES.c.person_id, _JUDGES.c.scored)
        .cte("tally")
    )


def _after(new_sheet: CTE) -> CompoundSelect[Any]:
    """The rest of a first score once ``new_sheet`` (an ``INSERT … RETURNING id``) is
    written: its revision, the judge's tally, and what is read after them. Writes nothing
    when ``new_sheet`` wrote nothing.

    Rows (kind, key, count, other_total, confirmed): a "sheet" row, "count" rows, "total"
    rows. The first SELECT names and types the columns (and so how results are read back):
    its NULLs are cast.
    """
    revision = _revision_of(new_sheet)
    tally = _tally_of(new_sheet)
    return (
        select(
            literal("sheet").label("kind"),
            new_sheet.c.id.label("key"),
            cast(null(), Integer).label("count"),
            cast(null(), _SHEETS.c.total.type).label("other_total"),
            cast(null(), _SHEETS.c.confirmed_at.type).label("confirmed"),
        )
        .union_all(
            select(literal("count"), tally.c.person_id, tally.c.scored, null(), null()),
            select(literal("count"), _JUDGES.c.person_id, _JUDGES.c.scored, null(), null()).where(
                _JUDGES.c.forum_id == _venue, _JUDGES.c.person_id != _judge
            ),
            select(
                literal("total"),
                _SHEETS.c.judge_id,
                null(),
                _SHEETS.c.total,
                _SHEETS.c.confirmed_at,
            ).where(
                _SHEETS.c.forum_id == _venue,
                _SHEETS.c.contestant_id == _contestant,
                _SHEETS.c.judge_id != _judge,
            ),
        )
        .add_cte(revision)
    )


_FIRST_SCORE = _after(
    insert(_SHEETS)
    .values(dict(zip(_SHEET_COLUMNS, (*_SHEET_VALUES, None), strict=True)))
    .returning(_SHEETS.c.id)
    .cte("new_sheet")
)


def score_if_new_statement(state_and_sheet: Select[*tuple[Any, ...]]) -> Select[Any]:
    """``state_and_sheet`` (one row: the venue's completed_at, published_at, auto_publish,
    then the judge's sheet for the contestant or NULLs) and, when the venue is not
    published and there is no sheet yet, the first score (``_FIRST_SCORE``), in one
    statement. Rows: the state's columns, then ``_after``'s (NULL when nothing else is
    read: the state row comes back on its own)."""
    state = state_and_sheet.cte("state")
    new_sheet = (
        insert(_SHEETS)
        .from_select(
            _SHEET_COLUMNS,
            select(*_SHEET_VALUES, null())
            .select_from(state)
            .where(state.c.id.is_(None), state.c.published_at.is_(None)),
        )
        .returning(_SHEETS.c.id)
        .cte("new_sheet")
    )
    after = _after(new_sheet).subquery("after")
    return select(*state.c, *after.c).select_from(state.outerjoin(after, true()))


@dataclass(frozen=True, slots=True)
class FirstScore:
    """What the one statement wrote and read."""

    sheet_id: int
    counts: dict[int, int]
    totals: list[tuple[int, Decimal, datetime | None]]


def record_first_score(session: Session, params: Mapping[str, Any]) -> FirstScore:
    """Insert the sheet and its revision, count it, and read the tallies and the
    contestant's sheets after it, in one statement. ``params``: venue, judge, contestant,
    total, items, now, action, inbound, source. A concurrent first score of the same sheet
    fails on the unique index, as the separate insert would."""
    first = read_first_score(run(session, _FIRST_SCORE, params), params["judge"], params["total"])
    if first is None:
        raise RuntimeError("the database returned no id for the inserted sheet")
    return first


def read_first_score(
    rows: Iterable[Sequence[Any]], judge: int, total: Decimal
) -> FirstScore | None:
    """``_after``'s rows as a ``FirstScore``; None when no sheet was written."""
    sheet_id: int | None = None
    counts: dict[int, int] = {}
    totals: list[tuple[int, Decimal, datetime | None]] = [(judge, total, None)]
    for kind, key, count, other_total, confirmed in rows:
        if kind == "sheet":
            sheet_id = int(key)
        elif kind == "count":
            counts[int(key)] = int(count)
        elif kind == "total":
            totals.append((int(key), other_total, confirmed))
    return None if sheet_id is None else FirstScore(sheet_id, counts, totals)
