"""What the scheduler calls for deadlines (reminders, overdue lists), and their check before
a push goes out.

Every function takes ``(session, settings, now)``, writes outbox rows through ``enqueue`` and
returns how many rows it added. Dedupe keys are stable, so calling a planner again (every
minute, after a restart, from two workers) adds nothing::

    remind:deadline:<key>:<round>:<due iso>          one per deadline group and round
    overdue:deadline:<key>:<due iso>:<group>         one per escalate_to group

A push too long for its platform is split; part 2 onwards get ``:p2``, ``:p3`` ... appended.
The reason of each row equals its dedupe key, which is what ``refresh`` reads back.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo

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
from storage.people import group_by_key
from storage.submissions import active_deadlines, active_people, deadline_by_key

REMIND = "remind:deadline:"
OVERDUE = "overdue:deadline:"
HORIZON = timedelta(days=1)
"""Rows are written up to a day ahead, so a scheduler hiccup never makes a push late."""

_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d)"
_PART = r"(?::p(?P<part>\d+))?"
_REMIND_RE = re.compile(rf"^{REMIND}(?P<key>.+):(?P<round>[^:]+):(?P<due>{_ISO}){_PART}$")
_OVERDUE_RE = re.compile(rf"^{OVERDUE}(?P<key>.+):(?P<due>{_ISO}):(?P<group>[^:]+?){_PART}$")


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
                due_at=at,
                now=now,
            )
    return added


# --------------------------------------------------------------------------- before sending


def refresh(
    session: Session,
    reason: str,
    message: OutboundMessage,
    now: datetime,
    *,
    tz: tzinfo | None = None,
) -> OutboundMessage | None:
    """Re-check a reminder or overdue push right before it is sent.

    Returns None when it became pointless (everyone submitted, the deadline was removed or
    moved, or this part no longer exists), else the message re-rendered with only those
    who still owe. Other reasons come back unchanged. Times are shown in ``tz``, by default
    in the offset the planner wrote into the reason.
    """
    remind = _REMIND_RE.match(reason) if reason.startswith(REMIND) else None
    overdue = _OVERDUE_RE.match(reason) if reason.startswith(OVERDUE) else None
    match = remind or overdue
    if match is None:
        return message
    deadline = deadline_by_key(session, match["key"])
    due = datetime.fromisoformat(match["due"])
    if deadline is None or not deadline.active or deadline.due_at.replace(microsecond=0) != due:
        return None
    zone = tz or due.tzinfo or UTC
    states = (
        deadline_states(session, deadline)
        if remind is not None
        else overdue_states(session, deadline, max(now, deadline.due_at))
    )
    missing = [s.entry for s in states if s.state == "missing"]
    if not missing:
        return None
    limit = max_text_bytes(message.platform, message.markdown, target_kind=message.target_kind)
    if remind is not None:
        parts = render_reminder(deadline, missing, now=now, tz=zone, limit=limit)
    else:
        parts = render_overdue(deadline, states, now=now, tz=zone, limit=limit)
    number = int(match["part"] or 1)
    if number > len(parts):
        return None
    part = parts[number - 1]
    return replace(message, text=part.text, mentions=part.mentions)
