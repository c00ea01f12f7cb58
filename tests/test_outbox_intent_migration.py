"""Upgrading a database with pushes queued under the reason-string scheme: each row gets its
intent as columns, read once by the migration, so the sender never parses text again.

Old rows are written at revision 0010 with raw SQL (the models already have the new
columns), the database is upgraded to the head, and the rows' ``kind``, ``subject``,
``subject_due`` and ``part`` are what the old reason strings said. A row whose reason could
not be read keeps its kind and is sent as written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON, insert, select, table
from sqlalchemy import column as col
from sqlalchemy.orm import Session

from bot.planning.deadlines import refresh
from handlers.messages import OutboundMessage
from storage.db import make_engine, upgrade
from storage.models import OutboxRow
from storage.outbox import row_intent
from storage.outbox_intent import Intent

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)

OLD_ROWS = [
    # (dedupe key, reason) exactly as the planners wrote them before
    ("remind:deadline:report:3d:2026-12-05T17:00:00+08:00", None),
    ("remind:deadline:report:3d:2026-12-05T17:00:00+08:00:p2", None),
    ("overdue:deadline:week-plan:2026-12-04T09:30:00+08:00:leaders", None),
    ("overdue:deadline:week-plan:2026-12-04T09:30:00+08:00:leaders:p3", None),
    ("remind:forum:ruiquan:2h:2026-12-06T14:00:00+08:00", None),
    ("digest:weekly:2026-W49:leaders", None),
    ("digest:weekly:2026-W49:leaders:p2", None),
    ("publish:ruiquan:leaders:p2", "publish:ruiquan:leaders"),
    ("reply:wecom:m1", "reply:42"),
    ("alert:wecom:x:93000", "alert"),
    ("plain", ""),
]

EXPECTED = {
    "remind:deadline:report:3d:2026-12-05T17:00:00+08:00": Intent(
        "remind", "report", datetime(2026, 12, 5, 9, 0, tzinfo=UTC), None
    ),
    "remind:deadline:report:3d:2026-12-05T17:00:00+08:00:p2": Intent(
        "remind", "report", datetime(2026, 12, 5, 9, 0, tzinfo=UTC), 2
    ),
    "overdue:deadline:week-plan:2026-12-04T09:30:00+08:00:leaders": Intent(
        "overdue", "week-plan", datetime(2026, 12, 4, 1, 30, tzinfo=UTC), None
    ),
    "overdue:deadline:week-plan:2026-12-04T09:30:00+08:00:leaders:p3": Intent(
        "overdue", "week-plan", datetime(2026, 12, 4, 1, 30, tzinfo=UTC), 3
    ),
    "remind:forum:ruiquan:2h:2026-12-06T14:00:00+08:00": Intent(
        "venue", "ruiquan", datetime(2026, 12, 6, 6, 0, tzinfo=UTC), None
    ),
    "digest:weekly:2026-W49:leaders": Intent("digest", "weekly", None, None),
    "digest:weekly:2026-W49:leaders:p2": Intent("digest", "weekly", None, 2),
    "publish:ruiquan:leaders:p2": Intent("publish", None, None, None),
    "reply:wecom:m1": Intent("reply", None, None, None),
    "alert:wecom:x:93000": Intent("alert", None, None, None),
    "plain": Intent("", None, None, None),
}


def _old_row(key: str, reason: str) -> dict[str, Any]:
    naive = NOW.replace(tzinfo=None)
    return {
        "dedupe_key": key,
        "platform": "wecom",
        "target_kind": "group",
        "target": "leaders",
        "rate_key": "",
        "payload": {"platform": "wecom", "target_kind": "group", "target": "leaders", "text": "x"},
        "due_at": naive,
        "status": "pending",
        "attempts": 0,
        "claimed_by": "",
        "last_error": "",
        "created_at": naive,
        "reason": reason,
    }


@pytest.mark.empty_db
def test_queued_pushes_get_their_intent_from_the_old_reason_strings(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0010")
        old = table(
            "outbox",
            *(col(name, JSON) if name == "payload" else col(name) for name in _old_row("k", "r")),
        )
        with engine.begin() as conn:
            conn.execute(
                insert(old),
                [_old_row(key, key if reason is None else reason) for key, reason in OLD_ROWS],
            )
        upgrade(engine)
        with Session(engine) as session:
            got = {row.dedupe_key: row_intent(row) for row in session.scalars(select(OutboxRow))}
        assert got == EXPECTED
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "intent",
    [Intent("remind", None, None, None), Intent("publish", None, None, None)],
    ids=["unreadable-reminder", "not-a-reminder"],
)
def test_a_push_without_a_subject_is_sent_as_written(intent: Intent, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        upgrade(engine)
        message = OutboundMessage("wecom", "group", "leaders", "原文")
        with Session(engine) as session:
            assert refresh(session, intent, message, NOW, tz=UTC) is message
    finally:
        engine.dispose()
