"""Venue reminders (PRODUCT §5): the evening before and shortly before the start.

Planned into the outbox when the config is synced. The dedupe key carries the start time,
so re-syncing an unchanged config adds nothing, and a rescheduled venue gets new reminders
while ``refresh`` drops the old ones before they are sent. A venue whose place, host or
judges changed without moving keeps its reminders, re-worded while they are still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.config import RubricConfig, Settings, VenueConfig
from handlers.context import local_time
from handlers.examples import example_value
from handlers.messages import Mention, OutboundMessage, payload_of
from handlers.pushes import enqueue
from handlers.rubric import ItemSpec, fmt
from handlers.text import parse_offset
from storage.outbox import reword_pending
from storage.outbox_intent import VENUE, Intent
from storage.people import venue_by_key

PREFIX = "remind:forum:"


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """One venue reminder: when, which round, and its stable key."""

    venue: str
    label: str
    at: datetime
    starts_at: datetime

    @property
    def key(self) -> str:
        """The outbox dedupe key and reason: venue, round and planned start. A moved start
        gives new keys, and ``refresh_venue_reminder`` drops the old ones."""
        return f"{PREFIX}{self.venue}:{self.label}:{self.starts_at.isoformat()}"


def venue_reminders(venue: VenueConfig, tz: ZoneInfo) -> list[PlannedReminder]:
    """Pure: the reminder times of one venue, earliest first."""
    plan: list[PlannedReminder] = []
    if venue.remind_eve:
        eve_day = venue.starts_at.astimezone(tz).date() - timedelta(days=1)
        at = datetime.combine(eve_day, time.fromisoformat(venue.remind_eve), tzinfo=tz)
        plan.append(PlannedReminder(venue.key, "eve", at, venue.starts_at))
    for offset in venue.remind_before:
        at = venue.starts_at - parse_offset(offset)
        plan.append(PlannedReminder(venue.key, offset, at, venue.starts_at))
    unique = {(r.at, r.label): r for r in plan}
    return sorted(unique.values(), key=lambda r: r.at)


def reminder_text(
    venue: VenueConfig,
    tz: ZoneInfo,
    label: str,
    *,
    rubric: RubricConfig,
    now: datetime | None = None,
) -> str:
    """The reminder for round ``label`` (``eve`` or an offset such as ``1h``): when and
    where the venue starts, its host, judges and contestants in order, and how to score,
    with an example in the venue's own ``rubric``. ``now`` (when it is sent) decides
    whether the date needs its year."""
    when = "明天" if label == "eve" else f"{_offset_words(label)}后"
    judges = "、".join(venue.judges)
    contestants = "、".join(f"{i}.{name}" for i, name in enumerate(venue.contestants, start=1))
    return (
        f"【会场提醒】{venue.title}·{venue.location or venue.key}会场{when}开始\n"
        f"时间：{local_time(venue.starts_at, tz, now)}\n"
        f"地点：{venue.location or '见通知'}\n"
        f"主持：{venue.host or '—'}\n"
        f"评委：{judges}\n"
        f"选手（按顺序）：{contestants}\n"
        f"评委请在本群 @我 评分，例如：评分 1号 {_example(rubric)}"
    )


def _example(rubric: RubricConfig) -> str:
    items = tuple(ItemSpec(i.name, i.max, tuple(i.aliases)) for i in rubric.items)
    return " ".join(fmt(example_value(item)) for item in items)


def _offset_words(label: str) -> str:
    delta = parse_offset(label)
    if delta % timedelta(days=1) == timedelta(0):
        return f"{delta.days} 天"
    if delta % timedelta(hours=1) == timedelta(0):
        return f"{int(delta.total_seconds() // 3600)} 小时"
    return f"{int(delta.total_seconds() // 60)} 分钟"


def plan_venue_reminders(session: Session, settings: Settings, now: datetime) -> int:
    """Enqueue every future venue reminder that is not planned yet; returns how many."""
    added = 0
    tz = settings.tz
    for venue in settings.venues:
        if not venue.group:
            continue
        group = settings.group(venue.group)
        judges = tuple(_mention(settings, name) for name in venue.judges)
        for reminder in venue_reminders(venue, tz):
            if reminder.at < now:
                continue
            message = OutboundMessage(
                platform=group.platform,
                target_kind="group",
                target=group.key,
                text=reminder_text(
                    venue, tz, reminder.label, rubric=settings.rubric(venue.rubric), now=reminder.at
                ),
                title=f"{venue.location}会场提醒",
                mentions=judges,
            )
            if _reword_planned(session, reminder.key, message):
                continue
            added += enqueue(
                session,
                message,
                dedupe_key=reminder.key,
                due_at=reminder.at,
                now=now,
                reason=reminder.key,
                intent=Intent(VENUE, reminder.venue, reminder.starts_at),
            )
    return added


def _reword_planned(session: Session, key: str, message: OutboundMessage) -> bool:
    """Whether ``key`` is planned already; if it is still pending it gets ``message``."""
    payload = payload_of(message)
    return reword_pending(
        session, key, payload=payload, platform=message.platform, target=message.target
    )


def _mention(settings: Settings, name: str) -> Mention:
    person = settings.person(name)
    return Mention(name, person.wecom_userid, person.dingtalk_userid, person.mobile)


def refresh_venue_reminder(
    session: Session, intent: Intent, message: OutboundMessage, now: datetime
) -> OutboundMessage | None:
    """Drop a venue reminder whose venue is gone, rescheduled or already published, or has
    started: one sent late (after an outage) would still say it starts in an hour."""
    if intent.kind != VENUE or not intent.subject or intent.due is None:
        return message
    venue = venue_by_key(session, intent.subject)
    if venue is None or not venue.active or venue.published_at is not None:
        return None
    if venue.starts_at != intent.due or now >= venue.starts_at:
        return None
    return message
