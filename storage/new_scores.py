"""A new score on PostgreSQL in one round trip: what a score line reads first (the venue's
state, the judge's sheet) and, when that allows a first score, its writes, in one statement.

A score line reads the venue's state and the judge's sheet for the contestant, and only
then decides: refuse (the venue is published), compare with the sheet there, or write a
first score. Almost every line is a first score, so on PostgreSQL the statement writes it
at once unless the state it reads in the same statement says otherwise
(``storage.scores_pg.score_if_new_statement``); the caller then takes the path it would
have taken, with nothing written. SQLite and MariaDB keep the two steps.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from storage.prepared import run
from storage.scores import _STATE_AND_SHEET, RecordedSheet, StoredSheet, VenueState
from storage.scores_pg import read_first_score, score_if_new_statement

_SCORE_IF_NEW = score_if_new_statement(_STATE_AND_SHEET)


def scores_in_one_statement(session: Session) -> bool:
    """Whether ``score_if_new`` is available (PostgreSQL: data-modifying CTEs)."""
    return session.get_bind().dialect.name == "postgresql"


def score_if_new(
    session: Session,
    *,
    venue_id: int,
    judge_id: int,
    contestant_id: int,
    total: Decimal,
    items: list[str] | None,
    now: datetime,
    inbound_id: int | None,
    source: str,
) -> tuple[VenueState, StoredSheet | None, RecordedSheet | None]:
    """``state_and_sheet`` and, when the venue is not published and the judge has no sheet
    for the contestant yet, ``record_sheet``'s first score (action "score"), in one
    statement: a new score on PostgreSQL is one round trip. The third value is the sheet
    written; None when nothing was (the state or the existing sheet says why)."""
    params: dict[str, Any] = {"venue": venue_id, "judge": judge_id, "contestant": contestant_id}
    params |= {"total": total, "items": items, "now": now, "action": "score"}
    params |= {"inbound": inbound_id, "source": source}
    rows = run(session, _SCORE_IF_NEW, params).all()
    if not rows:  # as state_and_sheet's one()
        raise LookupError(f"no venue {venue_id}")
    completed, published, auto, *sheet = rows[0][:8]
    state = VenueState(completed, published, bool(auto))
    existing = None if sheet[0] is None else StoredSheet(*sheet)
    first = read_first_score((row[8:] for row in rows), judge_id, total)
    if first is None:
        return state, existing, None
    return state, None, RecordedSheet.first(first, total, items)
