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

SQLite and MariaDB have no data-modifying CTEs and run the separate statements
(``storage.scores.record_sheet``); they are local or cheap round trips there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Table,
    bindparam,
    cast,
    insert,
    literal,
    null,
    select,
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

_sheet = (
    insert(_SHEETS)
    .values(
        forum_id=_venue,
        judge_id=_judge,
        contestant_id=_contestant,
        total=_total,
        items=_items,
        revision=1,
        updated_at=_now,
        confirmed_at=None,
    )
    .returning(_SHEETS.c.id)
    .cte("new_sheet")
)
_revision = (
    insert(_REVISIONS)
    .from_select(
        [
            "sheet_id",
            "revision",
            "action",
            "total",
            "items",
            "judge_id",
            "recorded_at",
            "inbound_id",
            "source",
        ],
        select(
            _sheet.c.id,
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
_tally = (
    update(_JUDGES)
    .where(_JUDGES.c.forum_id == _venue, _JUDGES.c.person_id == _judge)
    .values(scored=_JUDGES.c.scored + 1)
    .returning(_JUDGES.c.person_id, _JUDGES.c.scored)
    .cte("tally")
)
# (kind, id, count, total, confirmed): "sheet" row, "count" rows, "total" rows. The first
# SELECT types the columns (and so how results are read back): its NULLs are cast.
_FIRST_SCORE = (
    select(
        literal("sheet"),
        _sheet.c.id,
        cast(null(), Integer),
        cast(null(), _SHEETS.c.total.type),
        cast(null(), _SHEETS.c.confirmed_at.type),
    )
    .union_all(
        select(literal("count"), _tally.c.person_id, _tally.c.scored, null(), null()),
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
    .add_cte(_revision)
)


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
    sheet_id: int | None = None
    counts: dict[int, int] = {}
    totals: list[tuple[int, Decimal, datetime | None]] = [(params["judge"], params["total"], None)]
    for kind, key, count, other_total, confirmed in run(session, _FIRST_SCORE, params):
        if kind == "sheet":
            sheet_id = int(key)
        elif kind == "count":
            counts[int(key)] = int(count)
        else:
            totals.append((int(key), other_total, confirmed))
    if sheet_id is None:
        raise RuntimeError("the database returned no id for the inserted sheet")
    return FirstScore(sheet_id, counts, totals)
