"""What the scheduler calls for deadlines and digests, and the check before a push goes out.

Every function takes ``(session, settings, now)``, writes outbox rows through ``enqueue`` and
returns how many rows it added. Dedupe keys are stable, so calling a planner again (every
minute, after a restart, from two workers) adds nothing::

    remind:deadline:<key>:<round>:<due iso>          one per deadline group and round
    overdue:deadline:<key>:<due iso>:<group>         one per escalate_to group
    digest:<key>:<period>:<group>                    one per digest group and period

A push too long for its platform is split; part 2 onwards get ``:p2``, ``:p3`` ... appended.
The reason of each row equals its dedupe key, which is what ``refresh`` reads back.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.senders.limits import max_text_bytes
from handlers.deadlines import VenueProgress, render_digest, render_overdue, render_reminder
from handlers.messages import OutboundMessage, Platform
from handlers.pushes import enqueue
from handlers.standings import venue_table
from handlers.submissions import deadline_states
from handlers.text import Part
from handlers.venues import venue_name
from handlers.workdays import reminder_times
from storage.models import Deadline, Forum, Group
from storage.people import active_forums, forum_by_key, group_by_key
from storage.submissions import active_deadlines, active_people, deadline_by_key

REMIND = "remind:deadline:"
OVERDUE = "overdue:deadline:"
HORIZON = timedelta(days=1)
"""Rows are written up to a day ahead, so a scheduler hiccup never makes a push late."""

_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d)"
_PART = r"(?::p(?P<part>\d+))?"
_REMIND_RE = re.compile(rf"^remind:deadline:(?P<key>.+):(?P<round>[^:]+):(?P<due>{_ISO}){_PART}$")
_OVERDUE_RE = re.compile(
    rf"^overdue:deadline:(?P<key>.+):(?P<due>{_ISO}):(?P<group>[^:]+?){_PART}$"
)


def _iso(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).isoformat(timespec="seconds")


def _platform(group: Group) -> Platform:
    return "wecom" if group.platform == "wecom" else "dingtalk"


def _limit(platform: str, markdown: bool) -> int:
    return max_text_bytes(platform, markdown, target_kind="group")


def _enqueue_parts(
    session: Session,
    group: Group,
    parts: list[Part],
    base: str,
    *,
    title: str,
    markdown: bool,
    due_at: datetime,
    now: datetime,
    expires_at: datetime | None = None,
) -> int:
    added = 0
    for number, part in enumerate(parts, start=1):
        key = base if number == 1 else f"{base}:p{number}"
        message = OutboundMessage(
            platform=_platform(group),
            target_kind="group",
            target=group.key,
            text=part.text,
            title=title,
            markdown=markdown,
            mentions=part.mentions,
        )
        added += enqueue(
            session,
            message,
            dedupe_key=key,
            due_at=due_at,
            now=now,
            reason=key,
            expires_at=expires_at,
        )
    return added


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
            limit = _limit(group.platform, False)
            parts = render_reminder(deadline, missing, now=at, tz=tz, limit=limit)
            base = f"{REMIND}{deadline.key}:{label}:{_iso(deadline.due_at, tz)}"
            added += _enqueue_parts(
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
    for deadline in active_deadlines(session):
        if not deadline.escalate_to or not now - grace <= deadline.due_at <= now + HORIZON:
            continue
        states = deadline_states(session, deadline, people)
        if all(s.state != "missing" for s in states):
            continue
        for key in deadline.escalate_to:
            group = group_by_key(session, key)
            if group is None or not group.active:
                continue
            limit = _limit(group.platform, True)
            parts = render_overdue(deadline, states, now=deadline.due_at, tz=tz, limit=limit)
            base = f"{OVERDUE}{deadline.key}:{_iso(deadline.due_at, tz)}:{group.key}"
            added += _enqueue_parts(
                session,
                group,
                parts,
                base,
                title=f"{deadline.title}逾期未交",
                markdown=True,
                due_at=deadline.due_at,
                now=now,
            )
    return added


# --------------------------------------------------------------------------- digests


def _single(field: str) -> bool:
    return field.isdigit()


def _quarterly(month: str) -> bool:
    if month in ("*/3", "1/3", "1-12/3"):
        return True
    values = month.split(",")
    if len(values) != 4 or not all(v.isdigit() for v in values):
        return False
    return {(int(v) - 1) // 3 for v in values} == {0, 1, 2, 3}


def digest_period(cron: str, fired_at: datetime, tz: tzinfo) -> str:
    """The period one firing of ``cron`` reports on, in ``tz``.

    ``2026-W47`` for a weekly cron (one weekday), ``2026-11`` for a monthly one (one day of
    the month), ``2026-Q4`` for a quarterly one, ``2026`` for a yearly one; anything that
    fires more often than that is identified by its local fire time to the minute.
    """
    local = fired_at.astimezone(tz)
    fields = cron.split()
    if len(fields) == 5 and _single(fields[0]) and _single(fields[1]):
        _minute, _hour, dom, month, dow = fields
        if dom == "*" and month == "*" and re.fullmatch(r"[0-7]|[A-Za-z]{3}", dow):
            year, week, _day = local.isocalendar()
            return f"{year}-W{week:02d}"
        if _single(dom) and dow == "*":
            if month == "*":
                return f"{local.year}-{local.month:02d}"
            if _quarterly(month):
                return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
            if _single(month):
                return f"{local.year}"
    return local.strftime("%Y-%m-%dT%H:%M")


def _venue_progress(session: Session, forum: Forum) -> VenueProgress:
    table = venue_table(session, forum)
    state = "已公布" if forum.locked else ("已完成" if table.complete else "进行中")
    return VenueProgress(venue_name(forum), table.scored, table.expected, state)


def enqueue_digest(
    session: Session, settings: Settings, digest_key: str, fired_at: datetime, now: datetime
) -> int:
    """Render the digest ``digest_key`` once per period and queue it to each ``to`` group.

    A digest that names neither deadlines nor forums covers every active one of both.
    """
    cfg = next((d for d in settings.digests if d.key == digest_key), None)
    if cfg is None:
        raise KeyError(f"no digest '{digest_key}' in the config")
    period = digest_period(cfg.cron, fired_at, settings.tz)
    everything = not cfg.deadlines and not cfg.forums
    deadlines: list[Deadline | None] = (
        list(active_deadlines(session))
        if everything
        else [deadline_by_key(session, k) for k in cfg.deadlines]
    )
    forums: list[Forum | None] = (
        list(active_forums(session))
        if everything
        else [forum_by_key(session, k) for k in cfg.forums]
    )
    people = active_people(session)
    sections = [
        (d, deadline_states(session, d, people)) for d in deadlines if d is not None and d.active
    ]
    venues = [_venue_progress(session, f) for f in forums if f is not None and f.active]
    added = 0
    for key in cfg.to:
        group = group_by_key(session, key)
        if group is None or not group.active:
            continue
        title = f"{cfg.title}（{period}）"
        limit = _limit(group.platform, True)
        parts = render_digest(title, sections, venues, now=now, tz=settings.tz, limit=limit)
        added += _enqueue_parts(
            session,
            group,
            parts,
            f"digest:{cfg.key}:{period}:{group.key}",
            title=cfg.title,
            markdown=True,
            due_at=now,
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
    states = deadline_states(session, deadline)
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
