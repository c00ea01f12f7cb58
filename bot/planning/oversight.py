"""The people who answer for units (督学, 教育组 / 共同体 heads) hear about their own units.

At each reminder round of a deadline, everyone who answers for units that still owe gets a
private message naming those units; at the due time, the units of theirs that are late.
The leaders' overdue list (``escalate_to``) goes out ``escalate_after`` later, so the
person responsible hears first. Pushes are planned once their time has come (never ahead),
so they name who owes at that minute and need no re-check before sending.

Dedupe key and reason: ``oversee:<round or overdue>:<deadline key>:<person>``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.config.scopes import oversight
from handlers.deadlines import Entry, local_text, named, remaining_text
from handlers.messages import OutboundMessage
from handlers.overdue import overdue_states
from handlers.pushes import enqueue, person_target
from handlers.scopes import in_scope
from handlers.submissions import deadline_states
from handlers.workdays import reminder_times
from storage.models import Deadline
from storage.submissions import active_deadlines, active_people

PREFIX = "oversee:"
OVERDUE = "overdue"


def notice_text(
    deadline: Deadline, owing: list[Entry], label: str, at: datetime, tz: tzinfo
) -> str:
    """The private message: which of the person's units owe (or are late) and until when."""
    names = "、".join(e.name for e in owing)
    due = local_text(deadline.due_at, tz, at)
    if label == OVERDUE:
        return (
            f"【逾期未交】{named(deadline)}\n截止时间：{due}\n"
            f"您负责的单位中 {len(owing)} 个尚未提交：{names}\n请督促尽快补交。"
        )
    left = remaining_text(deadline.due_at, at)
    return (
        f"【交材料提醒】{named(deadline)}\n截止时间：{due}（{left}）\n"
        f"您负责的单位中 {len(owing)} 个尚未提交：{names}"
    )


def plan_oversight(session: Session, settings: Settings, now: datetime) -> int:
    """Queue the private notices whose time has come (within the outbox grace)."""
    scopes = oversight(settings)
    if not scopes:
        return 0
    tz, grace, added = settings.tz, settings.outbox.grace_delta, 0
    people = active_people(session)
    by_name = {p.name: p for p in people}
    for deadline in active_deadlines(session):
        if deadline.due_at < now - grace:
            continue  # long past: its rounds are too (the query cannot tell without them)
        moments = reminder_times(
            deadline.due_at,
            deadline.remind_before,
            workdays_only=deadline.workdays_only,
            tz=tz,
            calendar=settings.work_calendar,
        )
        for label, at in [*moments, (OVERDUE, deadline.due_at)]:
            if not now - grace <= at <= now:
                continue
            states = (
                overdue_states(session, deadline, at, people)
                if label == OVERDUE
                else deadline_states(session, deadline, people)
            )
            missing = [s for s in states if s.state == "missing"]
            for name, units in scopes.items():
                owing = [s.entry for s in in_scope(missing, units)]
                person = by_name.get(name)
                target = person_target(person) if person is not None else None
                if not owing or target is None:
                    continue
                platform, user_id = target
                key = f"{PREFIX}{label}:{deadline.key}:{name}"
                text = notice_text(deadline, owing, label, now, tz)  # as of now, not `at`
                message = OutboundMessage(platform, "person", user_id, text)
                added += enqueue(session, message, dedupe_key=key, due_at=now, now=now, reason=key)
    return added
