"""What each desk page shows, read from the database as plain values for the templates.

No web framework here: ``bot.desk.web`` checks who is asking and renders these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.desk.auth import Viewer, visible_venues
from bot.desk.outbox_view import outbox_view
from handlers.context import local_time
from handlers.deadlines import NO_UNIT, entry_states, named
from handlers.rubric import fmt
from handlers.standings import VenueTable, dropped_note, result_value, venue_table
from handlers.venues import venue_name
from storage.desk import board_links, recent_logins
from storage.models import Deadline, Person, Submission, Venue
from storage.people import active_venues
from storage.scores import audit_trail, count_sheets
from storage.submissions import active_deadlines, active_people, submissions_for

STATE_NAMES = {"published": "已公布", "complete": "已完成", "scoring": "评分中"}
PAGE_ROWS = 300
"""A venue of thousands lists this many in its ranking and matrix unless asked for all."""
AUDIT_ROWS = 300
"""The venue page lists the newest revisions; the 成绩汇总表 has the whole trail."""
ACTIONS = {"score": "评分", "correct": "更正", "confirm": "确认"}


def when(value: datetime | None, settings: Settings, now: datetime) -> str:
    """A time as every page shows it: ``2月13日（周日）08:00``, with the year when not now's."""
    return "" if value is None else local_time(value, settings.tz, now)


def venue_state(venue: Venue, complete: bool) -> str:
    """``published`` / ``complete`` / ``scoring``."""
    if venue.published_at is not None:
        return "published"
    return "complete" if complete else "scoring"


@dataclass(frozen=True, slots=True)
class VenueLine:
    """A venue on the campaign page."""

    key: str
    name: str
    title: str
    starts: str
    host: str
    scored: int
    expected: int
    state: str

    @property
    def percent(self) -> int:
        """How far scoring is, 0–100."""
        return 0 if not self.expected else min(100, self.scored * 100 // self.expected)


@dataclass(frozen=True, slots=True)
class DeadlineLine:
    """A deadline on the campaign page: 已交 / 逾期交 / 未交 counts."""

    key: str
    title: str
    due: str
    on_time: int
    late: int
    missing: int
    overdue: bool


def campaign(session: Session, settings: Settings, viewer: Viewer, now: datetime) -> dict[str, Any]:
    """The campaign page: venues, deadlines (for those who see them), pushes, logins."""
    venues = []
    for venue in visible_venues(session, viewer):
        judges, contestants = len(venue.judges), sum(1 for c in venue.contestants if c.position > 0)
        scored = count_sheets(session, venue)
        expected = judges * contestants
        state = venue_state(venue, expected > 0 and scored >= expected)
        venues.append(
            VenueLine(
                venue.key,
                venue_name(venue),
                venue.title,
                when(venue.starts_at, settings, now),
                venue.host.name if venue.host else "未设置",
                scored,
                expected,
                state,
            )
        )
    deadlines: list[DeadlineLine] = []
    if viewer.sees_deadlines:
        people = active_people(session)
        for deadline in active_deadlines(session):
            if deadline.opens_at is not None and deadline.opens_at > now:
                continue  # a repeating deadline's later periods: nobody owes them yet
            counts = Counter(
                s.state
                for s in entry_states(deadline, submissions_for(session, deadline.id), people)
            )
            deadlines.append(
                DeadlineLine(
                    deadline.key,
                    named(deadline),
                    when(deadline.due_at, settings, now),
                    counts["on_time"],
                    counts["late"],
                    counts["missing"],
                    deadline.due_at < now,
                )
            )
    return {
        "venues": venues,
        "deadlines": deadlines,
        "pushes": outbox_view(session, settings, now) if viewer.sees_all else None,
        "logins": (
            [
                (line, when(line.issued_at, settings, now), when(line.used_at, settings, now))
                for line in recent_logins(session, 20)
            ]
            if viewer.sees_logins
            else []
        ),
    }


def venue_page(
    session: Session,
    settings: Settings,
    viewer: Viewer,
    venue: Venue,
    now: datetime,
    *,
    rows: int | None = PAGE_ROWS,
) -> dict[str, Any]:
    """The venue page: matrix, outliers, ranking with per-judge totals, audit, links.
    The ranking and the matrix list the first ``rows`` contestants (None: all)."""
    table = venue_table(session, venue)
    shown = table.contestants[:rows]
    audit = audit_trail(session, venue.id, limit=AUDIT_ROWS)
    return {
        "venue": venue,
        "name": table.venue,
        "table": table,
        "state": venue_state(venue, table.complete),
        "starts": when(venue.starts_at, settings, now),
        "host": venue.host.name if venue.host else "未设置",
        "missing": {judge: len(table.missing_for(judge)) for judge in table.judges},
        "outliers": table.unconfirmed_outliers(),
        "ranking": ranking_rows(table)[:rows],
        "cut": len(table.contestants) - len(shown),
        "audit": [
            (
                when(a.recorded_at, settings, now),
                a.judge,
                a.contestant,
                ACTIONS.get(a.action, a.action),
                a.revision,
                fmt(a.total),
                a.source,
            )
            for a in reversed(audit)
        ],
        "audit_more": len(audit) >= AUDIT_ROWS,
        "links": board_links(session, venue.id) if viewer.manages_boards(venue.id) else [],
        "matrix": [(c, [_cell(table, c, j) for j in table.judges]) for c in shown],
    }


def _cell(table: VenueTable, contestant: str, judge: str) -> str:
    sheet = table.sheets.get((contestant, judge))
    return "" if sheet is None else fmt(sheet.total)


@dataclass(frozen=True, slots=True)
class RankRow:
    """One line of a ranking as the pages and the picture show it."""

    rank: str
    name: str
    result: str
    totals: tuple[str, ...] = ()
    note: str = ""


def ranking_rows(table: VenueTable) -> list[RankRow]:
    """The ranking in rank order, unscored contestants last."""
    return [
        RankRow(
            str(row.rank) if row.rank is not None else "—",
            row.contestant,
            result_value(table, row.result),
            tuple(fmt(t) if t is not None else "未评" for t in row.totals),
            dropped_note(table, row),
        )
        for row in table.standings
    ]


def board(session: Session, settings: Settings, venue: Venue) -> dict[str, Any]:
    """What the results board shows: the ranking once published (or live where the venue's
    config says ``board_live``), else only how far scoring is."""
    table = venue_table(session, venue)
    live = any(v.key == venue.key and v.board_live for v in settings.venues)
    published = venue.published_at is not None
    shown = published or live
    rows = ranking_rows(table) if shown else []
    return {
        "title": venue.title,
        "venue": table.venue,
        "state": STATE_NAMES[venue_state(venue, table.complete)],
        "scored": table.scored,
        "expected": table.expected,
        "published": published,
        "live": live and not published,
        "rows": [{"rank": r.rank, "name": r.name, "result": r.result} for r in rows],
    }


@dataclass
class UnitGroup:
    """A parent unit (学区, 共同体) on the deadline page, with its entries."""

    name: str
    parent: str = ""
    """The parent unit's name; "" for the entries whose unit has none."""
    entries: list[dict[str, Any]] = field(default_factory=list)


def deadline_page(
    session: Session, settings: Settings, deadline: Deadline, now: datetime
) -> dict[str, Any]:
    """Who submitted what and when, every version, late flags, files, who is missing;
    grouped under the units' parents where units have them."""
    people = active_people(session)
    subs = submissions_for(session, deadline.id)
    names = dict(session.execute(select(Person.id, Person.name)).all())
    parents = {u.name: u.parent for u in settings.units}
    groups: dict[str, UnitGroup] = {}
    for state in entry_states(deadline, subs, people):
        entry = state.entry
        mine = [s for s in subs if _counts(s, entry.name, entry.kind, people)]
        parent = parents.get(entry.unit, "") or parents.get(entry.name, "") or ""
        group = groups.setdefault(parent, UnitGroup(parent or "其他单位", parent))
        group.entries.append(
            {
                "name": entry.name,
                "unit": entry.unit or NO_UNIT,
                "state": state.state,
                "versions": [_version(s, names, settings, now) for s in reversed(mine)],
            }
        )
    counts = Counter(e["state"] for g in groups.values() for e in g.entries)
    return {
        "deadline": deadline,
        "name": named(deadline),
        "due": when(deadline.due_at, settings, now),
        "overdue": deadline.due_at < now,
        "groups": sorted(groups.values(), key=lambda g: (not g.parent, g.name)),
        "counts": counts,
        "missing": [
            e["name"] for g in groups.values() for e in g.entries if e["state"] == "missing"
        ],
    }


def _counts(sub: Submission, name: str, kind: str, people: list[Person]) -> bool:
    if sub.owner == name:
        return True
    person = next((p for p in people if p.id == sub.person_id), None)
    if person is None:
        return False
    return person.unit == name if kind == "unit" else person.name == name


def _version(
    sub: Submission, names: dict[int, str], settings: Settings, now: datetime
) -> dict[str, Any]:
    return {
        "id": sub.id,
        "version": sub.version,
        "at": when(sub.submitted_at, settings, now),
        "late": sub.late,
        "by": names.get(sub.person_id, ""),
        "file": sub.file_name if sub.file_path else "",
        "size": sub.file_size,
        "content": sub.content,
    }


def own_sheets(
    session: Session, settings: Settings, viewer: Viewer, now: datetime
) -> list[dict[str, Any]]:
    """A judge's own sheets, venue by venue: what they gave and whom they still owe."""
    pages = []
    for venue in (v for v in active_venues(session) if v.id in viewer.judges):
        table = venue_table(session, venue)
        given = [
            (c, fmt(table.sheets[(c, viewer.name)].total))
            for c in table.contestants
            if (c, viewer.name) in table.sheets
        ]
        pages.append(
            {
                "name": table.venue,
                "starts": when(venue.starts_at, settings, now),
                "given": given,
                "missing": table.missing_for(viewer.name),
                "published": venue.published_at is not None,
            }
        )
    return pages
