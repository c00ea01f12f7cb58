"""What the scheduler calls for deadlines (reminders, overdue lists), and their check before
a push goes out.

Every function takes ``(session, settings, now)``, writes outbox rows through ``enqueue`` and
returns how many rows it added. Dedupe keys are stable, so calling a planner again (every
minute, after a restart, from two workers) adds nothing::

    remind:deadline:<key>:<round>:<due iso>          one per deadline group and round
    overdue:deadline:<key>:<due iso>:<group>         one per escalate_to group

A push too long for its platform is split; part 2 onwards get ``:p2``, ``:p3`` ... appended.
Each row's intent (``remind`` or ``overdue``, the deadline's key and due time, the part) is
what ``refresh`` reads back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.planning.parts import enqueue_parts, group_limit
from bot.senders.limits import max_text_bytes
from handlers.deadlines import render_overdue, render_reminder
from handlers.messages import OutboundMessage
from handlers.overdue import overdue_states
from handlers.submissions import deadline_states
from handlers.text import parse_offset
from handlers.workdays import reminder_times
from storage.outbox_intent import OVERDUE as OVERDUE_KIND
from storage.outbox_intent import REMIND as REMIND_KIND
from storage.outbox_intent import Intent
from storage.people import group_by_key
from storage.submissions import active_deadlines, active_people, deadline_by_key

REMIND = "remind:deadline:"
OVERDUE = "overdue:deadline:"
HORIZON = timedelta(days=1)
"""Rows are written up to a day ahead, so a scheduler hiccup never makes a push late."""


def _iso(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).isoformat(timespec="seconds")


def plan_deadline_reminders(session: Session, settings: Settings, now: datetime) -> int:
    """One reminder per deadline group and round due within a day, naming who owes now.

    Rounds further back than the outbox grace are skipped (after a long outage a stale
    reminder is noise), and so is every round once nobody owes.
    """
    tz, grace, added = settings.tz, settings.outbox.grace_delta, 0
    people = active_people(session)
    for deadline in active_deadlines(session):
        group = deadline.group
        if group is None or not group.active or deadline.due_at <= now:
            continue
        rounds = reminder_times(
            deadline.due_at,
            deadline.remind_before,
            workdays_only=deadline.workdays_only,
            tz=tz,
            calendar=settings.work_calendar,
        )
        for label, at in rounds:
            if not now - grace <= at <= now + HORIZON:
                continue
            states = deadline_states(session, deadline, people)
            missing = [s.entry for s in states if s.state == "missing"]
            if not missing:
                break
            limit = group_limit(group.platform, False)
            parts = render_reminder(deadline, missing, now=at, tz=tz, limit=limit)
            base = f"{REMIND}{deadline.key}:{label}:{_iso(deadline.due_at, tz)}"
            added += enqueue_parts(
                session,
                group,
                parts,
                base,
                title=f"{deadline.title}提醒",
                markdown=False,
                intent=Intent(REMIND_KIND, deadline.key, deadline.due_at),
                due_at=at,
                now=now,
                expires_at=deadline.due_at,
            )
    return added


def plan_overdue(session: Session, settings: Settings, now: datetime) -> int:
    """At each due time, the list of who has not submitted to every ``escalate_to`` group."""
    tz, grace, added = settings.tz, settings.outbox.grace_delta, 0
    people = active_people(session)
    delays = {c.key: parse_offset(c.escalate_after) for c in settings.deadlines if c.escalate_after}
    for deadline in active_deadlines(session):
        # escalate_after: the people who answer for the units hear at the due time
        # (bot.planning.oversight), the leaders this much later.
        at = deadline.due_at + delays.get(deadline.series or deadline.key, timedelta(0))
        if not deadline.escalate_to or not now - grace <= at <= now + HORIZON:
            continue
        states = overdue_states(session, deadline, at, people)
        if all(s.state != "missing" for s in states):
            continue
        for key in deadline.escalate_to:
            group = group_by_key(session, key)
            if group is None or not group.active:
                continue
            limit = group_limit(group.platform, True)
            parts = render_overdue(deadline, states, now=at, tz=tz, limit=limit)
            base = f"{OVERDUE}{deadline.key}:{_iso(deadline.due_at, tz)}:{group.key}"
            added += enqueue_parts(
                session,
                group,
                parts,
                base,
                title=f"{deadline.title}逾期未交",
                markdown=True,
                intent=Intent(OVERDUE_KIND, deadline.key, deadline.due_at),
                due_at=at,
                now=now,
            )
    return added


# --------------------------------------------------------------------------- before sending


def refresh(
    session: Session,
    intent: Intent,
    message: OutboundMessage,
    now: datetime,
    *,
    tz: tzinfo,
) -> OutboundMessage | None:
    """Re-check a reminder or overdue push right before it is sent.

    Returns None when it became pointless (everyone submitted, the deadline was removed or
    moved, or this part no longer exists), else the message re-rendered with only those
    who still owe, its times shown in ``tz``. Other intents (and a reminder whose subject
    is unknown) come back unchanged.
    """
    if intent.kind not in (REMIND_KIND, OVERDUE_KIND) or not intent.subject or not intent.due:
        return message
    deadline = deadline_by_key(session, intent.subject)
    if deadline is None or not deadline.active or not _same_second(deadline.due_at, intent.due):
        return None
    states = (
        deadline_states(session, deadline)
        if intent.kind == REMIND_KIND
        else overdue_states(session, deadline, max(now, deadline.due_at))
    )
    missing = [s.entry for s in states if s.state == "missing"]
    if not missing:
        return None
    limit = max_text_bytes(message.platform, message.markdown, target_kind=message.target_kind)
    if intent.kind == REMIND_KIND:
        parts = render_reminder(deadline, missing, now=now, tz=tz, limit=limit)
    else:
        parts = render_overdue(deadline, states, now=now, tz=tz, limit=limit)
    number = intent.part or 1
    if number > len(parts):
        return None
    part = parts[number - 1]
    return replace(message, text=part.text, mentions=part.mentions)


def _same_second(a: datetime, b: datetime) -> bool:
    """Whether two times name the same second (rows planned before the intent columns kept
    their due time to the second)."""
    return a.replace(microsecond=0) == b.replace(microsecond=0)
