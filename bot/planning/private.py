"""Reminders that reach the person: each unit that owes, privately, batched per platform call.

For a deadline with ``remind_private``, at every reminder round the principals (all members
if none) of each unit that still owes get one private message; with ``remind_overdue``, the
units still late at each of those offsets after the due time are told so themselves. One
outbox row carries many recipients (target kind ``people``): WeCom's app message takes up
to 1,000 userids per call, DingTalk's one-to-one robot message 20. Without the WeCom app
(only the robot's long connection), WeCom recipients get one message each.

The rows are planned once their time has come, never ahead, so they name who owes at that
minute. Dedupe key and reason: ``private:<round>:<deadline key>:<platform>:<batch>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.config import DeadlineConfig, Settings
from handlers.deadlines import Entry, local_text, named, remaining_text, submit_hint
from handlers.messages import PEOPLE_SEPARATOR, OutboundMessage, Platform, TargetKind
from handlers.overdue import overdue_states
from handlers.pushes import enqueue
from handlers.submissions import deadline_states
from handlers.text import parse_offset
from handlers.workdays import reminder_times
from storage.models import Deadline
from storage.submissions import active_deadlines, active_people

PREFIX = "private:"
BATCH = {"wecom": 1000, "dingtalk": 20}
"""Recipients per call: WeCom message/send ``touser``, DingTalk oToMessages/batchSend."""


def recipients(entries: Sequence[Entry]) -> dict[Platform, list[str]]:
    """Each entry's contacts by platform: WeCom when they have a WeCom id, else DingTalk."""
    found: dict[Platform, list[str]] = {"wecom": [], "dingtalk": []}
    for entry in entries:
        for m in entry.contacts:
            platform: Platform = "wecom" if m.wecom_userid else "dingtalk"
            user_id = m.wecom_userid or m.dingtalk_userid
            if user_id and user_id not in found[platform]:
                found[platform].append(user_id)
    return found


def batches(ids: Sequence[str], size: int) -> list[list[str]]:
    """``ids`` in runs of at most ``size``."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def private_text(deadline: Deadline, late: bool, at: datetime, settings: Settings) -> str:
    """One text for every recipient of a batch: what is owed and until when."""
    due = local_text(deadline.due_at, settings.tz, at)
    if late:
        return (
            f"【逾期未交】您所在单位尚未提交“{named(deadline)}”（截止 {due}，"
            f"{remaining_text(deadline.due_at, at)}）。逾期提交仍会接收。\n{submit_hint(deadline)}"
        )
    return (
        f"【交材料提醒】您所在单位尚未提交“{named(deadline)}”，截止 {due}"
        f"（{remaining_text(deadline.due_at, at)}）。\n{submit_hint(deadline)}"
    )


def _moments(
    cfg: DeadlineConfig, deadline: Deadline, settings: Settings
) -> list[tuple[str, datetime, bool]]:
    """(round label, time, late?) of the private messages of one deadline."""
    out: list[tuple[str, datetime, bool]] = []
    if cfg.remind_private:
        rounds = reminder_times(
            deadline.due_at,
            deadline.remind_before,
            workdays_only=deadline.workdays_only,
            tz=settings.tz,
            calendar=settings.work_calendar,
        )
        out += [(label, at, False) for label, at in rounds]
    out += [(f"late{o}", deadline.due_at + parse_offset(o), True) for o in cfg.remind_overdue]
    return out


def plan_private(session: Session, settings: Settings, now: datetime) -> int:
    """Queue the private reminders and late notices whose time has come."""
    configs = {c.key: c for c in settings.deadlines if c.remind_private or c.remind_overdue}
    if not configs:
        return 0
    grace, added = settings.outbox.grace_delta, 0
    longest = max(
        (parse_offset(o) for c in configs.values() for o in c.remind_overdue), default=timedelta(0)
    )
    wecom_app = bool(settings.wecom.corp_id and settings.wecom.secret and settings.wecom.agent_id)
    people = active_people(session)
    for deadline in active_deadlines(session):
        cfg = configs.get(deadline.series or deadline.key)
        if cfg is None or deadline.due_at + longest < now - grace:
            continue
        for label, at, late in _moments(cfg, deadline, settings):
            if not now - grace <= at <= now:
                continue
            states = (
                overdue_states(session, deadline, at, people)
                if late
                else deadline_states(session, deadline, people)
            )
            owing = [s.entry for s in states if s.state == "missing"]
            # Said as of now: a round planned late (after an outage) tells the time left
            # when it goes out, not when it was due ("还剩 2 小时" after the deadline).
            text = private_text(deadline, late, now, settings)
            for platform, ids in recipients(owing).items():
                size = BATCH[platform] if platform == "dingtalk" or wecom_app else 1
                for number, run in enumerate(batches(ids, size), start=1):
                    kind: TargetKind = "people" if len(run) > 1 else "person"
                    target = PEOPLE_SEPARATOR.join(run)
                    message = OutboundMessage(platform, kind, target, text, title=deadline.title)
                    key = f"{PREFIX}{label}:{deadline.key}:{platform}:{number}"
                    added += enqueue(
                        session, message, dedupe_key=key, due_at=now, now=now, reason=key
                    )
    return added
