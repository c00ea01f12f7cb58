"""``edubot check-config``: a readable summary and the reminder plan of a config."""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from bot.config import Settings
from bot.holidays import holiday_warning
from bot.planning.venue_reminders import venue_reminders
from handlers.context import local_time
from handlers.workdays import reminder_times


def describe(settings: Settings, *, now: datetime) -> str:
    """Everything an organizer should check before the campaign starts."""
    tz = settings.tz
    out: list[str] = [f"配置有效 / config OK: {settings.source}", f"时区: {settings.timezone}"]
    out += _hearing(settings)
    roles: dict[str, int] = {}
    for person in settings.people:
        for role in person.roles:
            roles[role] = roles.get(role, 0) + 1
    out.append(
        f"人员 {len(settings.people)} 人（"
        + "、".join(f"{k} {v}" for k, v in sorted(roles.items()))
        + f"）；群 {len(settings.groups)} 个；评分表 {len(settings.rubrics)} 张"
    )
    for rubric in settings.rubrics:
        items = " / ".join(f"{i.name} {i.max}" for i in rubric.items)
        out.append(
            f"  评分表 {rubric.key}: {items} = {rubric.total_max}（{rubric.decimals} 位小数）"
        )
    for campaign in settings.campaigns:
        out.append(f"\n活动 {campaign.title}")
        for phase in campaign.phases:
            start, end = local_time(phase.start, tz, now), local_time(phase.end, tz, now)
            out.append(f"  {phase.name}: {start} — {end}")
    if settings.venues:
        out.append("\n会场与提醒计划:")
    for venue in settings.venues:
        out.append(
            f"  [{venue.key}] {venue.title}·{venue.location} {local_time(venue.starts_at, tz, now)}"
            f" 主持 {venue.host or '—'} 评委 {'、'.join(venue.judges)}"
            f" 选手 {len(venue.contestants)} 位 → 群 {venue.group or '—'}"
        )
        for reminder in venue_reminders(venue, tz):
            state = "已过" if reminder.at < now else "计划"
            label = "前一晚" if reminder.label == "eve" else f"提前 {reminder.label}"
            out.append(f"      {state} {local_time(reminder.at, tz, now)} 会场提醒（{label}）")
    out.extend(_deadline_plan(settings, now))
    warning = holiday_warning(settings, now)
    if warning:
        out.append(f"\n{warning}")
    if settings.digests:
        out.append("\n定期汇总:")
    for digest in settings.digests:
        trigger = CronTrigger.from_crontab(digest.cron, timezone=tz)
        upcoming = trigger.get_next_fire_time(None, now)
        when = local_time(upcoming, tz, now) if upcoming else "—"
        targets = "、".join(digest.to)
        out.append(f"  [{digest.key}] {digest.title} cron '{digest.cron}' 下次 {when} → {targets}")
    return "\n".join(out)


def _deadline_plan(settings: Settings, now: datetime) -> list[str]:
    if not settings.deadlines:
        return []
    tz = settings.tz
    out = ["\n材料截止与提醒计划:"]
    shown: set[str] = set()
    for planned in settings.planned_deadlines:
        deadline = planned.config
        if planned.series:
            # A repeating deadline: its rule once, then only the periods still ahead.
            if planned.series not in shown:
                shown.add(planned.series)
                periods = [p for p in settings.planned_deadlines if p.series == planned.series]
                out.append(
                    f"  [{deadline.key}] {deadline.title} 每期截止（{deadline.repeat}）"
                    f"共 {len(periods)} 期 提交人 {len(deadline.submitters)} 个 → 群 "
                    f"{deadline.group or '—'}"
                )
            if planned.due < now:
                continue
            out.append(f"    {planned.period} 截止 {local_time(planned.due, tz, now)}")
            continue
        out.append(
            f"  [{deadline.key}] {deadline.title} 截止 {local_time(planned.due, tz, now)}"
            f" 提交人 {len(deadline.submitters)} 个 → 群 {deadline.group or '—'}"
            + ("（仅工作日）" if deadline.workdays_only else "")
        )
        rounds = reminder_times(
            planned.due,
            deadline.remind_before,
            workdays_only=deadline.workdays_only,
            tz=tz,
            calendar=settings.work_calendar,
        )
        for label, at in rounds:
            state = "已过" if at < now else "计划"
            out.append(f"      {state} {local_time(at, tz, now)} 提醒未交者（提前 {label}）")
        if deadline.escalate_to:
            out.append(f"      截止时 逾期名单 → {'、'.join(deadline.escalate_to)}")
    return out


def _hearing(settings: Settings) -> list[str]:
    """How each configured platform hears messages, and whether that needs a public URL."""
    lines: list[str] = []
    wecom, dingtalk = settings.wecom, settings.dingtalk
    if wecom.robot_mode == "websocket":
        lines.append(f"企业微信智能机器人: 长连接 {wecom.robot_ws_url}（无需公网地址）")
    elif wecom.robot_enabled:
        lines.append("企业微信智能机器人: URL 回调 /wecom/robot（需要公网地址）")
    if wecom.app_enabled:
        lines.append("企业微信自建应用: URL 回调 /wecom/callback（需要公网地址）")
    if dingtalk.mode == "stream":
        lines.append("钉钉机器人: Stream 模式（无需公网地址）")
    elif dingtalk.enabled:
        lines.append("钉钉机器人: HTTP 回调 /dingtalk/callback（需要公网地址）")
    return lines
