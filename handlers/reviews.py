"""What organizers do with what was handed in: 已交, 退回, 通过 / 确认, 免交, 延期, 催交.

Each action is written to the ``deadline_events`` audit with who did it and from where.
退回 reopens the entry (its returned version no longer counts) and tells the submitter in a
private push; 免交 takes the entry off every list; 延期 gives one entry its own due time;
催交 queues the reminder to the deadline's group now, through the outbox, so the robot's rate
limit holds. The texts are in ``handlers.review_texts``.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from handlers.commands import Confirm, Review, Submitted, Urge
from handlers.context import Context
from handlers.deadlines import named, render_reminder
from handlers.errors import BotError
from handlers.messages import OutboundMessage, Reply, platform_named
from handlers.period_duties import current_period, named_period, opened
from handlers.periods import split_period
from handlers.pushes import enqueue, push_to_person
from handlers.refusals import ask_organizer
from handlers.review_texts import submitted_list
from handlers.scopes import in_scope
from handlers.scoring import handle_confirm
from handlers.submissions import deadline_states
from storage.deadline_events import (
    ACCEPTED,
    EXEMPTED,
    EXTENDED,
    RETURNED,
    URGED,
    deadline_events,
    overrides_for,
    record_deadline_event,
)
from storage.models import Deadline, DeadlineSubmitter, Submission
from storage.submissions import current_deadlines, find_deadline, submissions_for

OVERSEERS = ("leader", "organizer", "admin")
_VERB = {RETURNED: "退回", ACCEPTED: "通过", EXEMPTED: "免交", EXTENDED: "延期"}


def _usage(ctx: Context, word: str, deadline: Deadline | None = None, owner: str = "") -> str:
    """An example of ``word`` (已交, 催交, 退回, 通过, 免交, 延期) in this campaign's own
    words: the deadline and entry given, else the first deadline running now and its first
    entry; placeholders only when there is no deadline at all."""
    if deadline is None:
        running = current_deadlines(ctx.session, ctx.now)
        deadline = running[0] if running else None
    title = deadline.title.split()[0] if deadline is not None else "材料名"
    if word in ("已交", "催交"):
        return f"{word} {title}"
    if not owner:
        entries = sorted(deadline.submitters, key=lambda e: e.position) if deadline else []
        owner = entries[0].name.split()[0] if entries else "单位"
    tail = {"退回": " 请补充缺少的部分", "延期": f" {_week_later(ctx, deadline)}"}.get(word, "")
    return f"{word} {owner} {title}{tail}"


def _week_later(ctx: Context, deadline: Deadline | None) -> str:
    """A day a week after ``deadline`` is due, as 延期 reads it (``3月12日``)."""
    if deadline is None:
        return "3月12日"
    day = (deadline.due_at + timedelta(days=7)).astimezone(ctx.tz)
    return f"{day.month}月{day.day}日"


def _oversee(ctx: Context, word: str) -> None:
    if not ctx.person.has_role(*OVERSEERS):
        raise BotError(f"“{word}”只向领导和组织者开放。发送“我的”可查看您自己的待交材料。")


def _deadline(ctx: Context, material: str, usage: str, owner: str = "") -> Deadline:
    """The deadline (the period, for a repeating one) ``material`` names."""
    text, period = split_period(material)
    if not text:
        raise BotError(f"请写明材料名，例如：{usage}")
    match = find_deadline(ctx.session, text)
    if match.deadline is None:
        shown = match.candidates or tuple(current_deadlines(ctx.session, ctx.now))
        names = "、".join(dict.fromkeys(d.title for d in shown))
        choices = f"可选：{names}。" if names else ""
        raise BotError(f"没有找到唯一的材料“{text}”。{choices}请重新发送，例如：{usage}")
    if not match.periods:
        return match.deadline
    if period:
        return named_period(match.periods, period, ctx.now)
    started = [d for d in match.periods if opened(d, ctx.now)] or list(match.periods[:1])
    if owner:
        # 退回 / 通过 without a period: the latest period this entry handed something in for.
        for deadline in reversed(started):
            if _latest(ctx, deadline, owner) is not None:
                return deadline
    return current_period(started, ctx.now)


def _entry(deadline: Deadline, typed: str, usage: str) -> DeadlineSubmitter:
    """The submitter entry ``typed`` names: exactly, else a unique part of its name."""
    if not typed:
        raise BotError(f"请写明单位，例如：{usage}")
    entries = list(deadline.submitters)
    for test in (lambda n: n == typed, lambda n: n.startswith(typed), lambda n: typed in n):
        hits = [e for e in entries if test(e.name)]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise BotError(
                f"“{typed}”能对上多个单位：{'、'.join(e.name for e in hits)}。请写全称。"
            )
    names = "、".join(e.name for e in entries)
    raise BotError(
        f"“{named(deadline)}”的提交名单中没有“{typed}”。名单：{names}。请写名单中的单位名重新发送。"
    )


def _latest(ctx: Context, deadline: Deadline, owner: str) -> Submission | None:
    """The entry's newest version that still counts (not returned)."""
    kept = [
        s
        for s in submissions_for(ctx.session, deadline.id)
        if s.owner == owner and s.review != RETURNED
    ]
    return kept[-1] if kept else None


# --------------------------------------------------------------------------- 已交


def handle_submitted(ctx: Context, command: Submitted) -> Reply:
    """已交 <材料>: every entry with its latest version, time, late flag and review (a
    person who answers for units: those units' entries)."""
    everything = ctx.person.has_role(*OVERSEERS)
    if not ctx.oversees:
        _oversee(ctx, "已交")
    deadline = _deadline(ctx, command.material, _usage(ctx, "已交"))
    subs = submissions_for(ctx.session, deadline.id)
    states = deadline_states(ctx.session, deadline)
    if not everything:
        states = in_scope(states, ctx.oversees)
    overrides = overrides_for(ctx.session, deadline.id)
    return Reply(submitted_list(ctx, deadline, states, subs, overrides))


# --------------------------------------------------------------------------- review one entry


def handle_review(ctx: Context, command: Review) -> Reply:
    """退回 / 通过 / 免交 / 延期 one entry of a deadline."""
    verb = _VERB[command.action]
    usage = _usage(ctx, verb)
    _oversee(ctx, verb)
    if not command.owner or not command.material:
        raise BotError(f"请写明单位和材料，例如：{usage}")
    first = _deadline(ctx, command.material, usage)
    entry = _entry(first, command.owner, usage)
    deadline = first
    if command.action in (RETURNED, ACCEPTED):
        # What was handed in last, which may be an earlier period than the running one.
        deadline = _deadline(ctx, command.material, usage, owner=entry.name)
    if command.action in (RETURNED, ACCEPTED):
        return _review_submission(ctx, deadline, entry, command)
    if command.action == EXEMPTED:
        _audit(ctx, deadline, entry.name, EXEMPTED)
        return Reply(f"已将{entry.name}的“{named(deadline)}”设为免交：不再提醒，也不计入未交。")
    until = _until(command.note, deadline, ctx, entry.name)
    _audit(ctx, deadline, entry.name, EXTENDED, note=command.note, until=until)
    return Reply(
        f"已将{entry.name}的“{named(deadline)}”截止时间延至 {ctx.local(until)}："
        "此前提交不算逾期，届时未交才列入逾期名单。"
    )


def _review_submission(
    ctx: Context, deadline: Deadline, entry: DeadlineSubmitter, command: Review
) -> Reply:
    sub = _latest(ctx, deadline, entry.name)
    verb = _VERB[command.action]
    if sub is None:
        raise BotError(
            f"{entry.name}还没有提交“{named(deadline)}”，无可{verb}。"
            f"发送“已交 {deadline.title.split()[0]}”可查看谁已提交。"
        )
    if command.action == RETURNED and not command.note:
        raise BotError(f"请写明退回原因，例如：{_usage(ctx, verb, deadline, entry.name)}")
    sub.review = command.action
    sub.review_note = command.note
    _audit(ctx, deadline, entry.name, command.action, note=command.note, submission=sub)
    what = f"{entry.name}的“{named(deadline)}”第 {sub.version} 版"
    if command.action == RETURNED:
        told = push_to_person(
            ctx,
            sub.person_id,
            f"您提交的{what}被退回：{command.note}\n"
            f"请修改后重新提交：提交 {deadline.title} 链接或说明，或直接把文件发给我。",
            key=f"returned:{deadline.key}:{entry.name}",
        )
        notice = "已私信通知提交人。" if told else "提交人没有可私信的账号，请另行通知。"
        return Reply(f"已退回{what}（原因：{command.note}）。{entry.name}重新列入未交；{notice}")
    push_to_person(
        ctx,
        sub.person_id,
        f"您提交的{what}已通过审核。",
        key=f"accepted:{deadline.key}:{entry.name}",
    )
    return Reply(f"已确认{what}通过。")


_DATE = re.compile(
    r"^(?:(?P<y>\d{4})[-/.年])?(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?"
    # The command's words are split at colons too, so 17:00 arrives as "17 00".
    r"(?:\s*(?P<hh>\d{1,2})[:：\s](?P<mm>\d{2}))?$"
)


def _until(text: str, deadline: Deadline, ctx: Context, owner: str) -> datetime:
    """延期's date (``3月12日``, ``2026-03-12``, ``3月12日 17:00``) at the deadline's time of
    day unless a time is given; it must be later than the deadline's own due time. Without
    a year it is the deadline's year, or the next one for a date half a year before it."""
    example = _usage(ctx, "延期", deadline, owner)
    match = _DATE.match(text.strip())
    if match is None:
        raise BotError(f"请写明延期到哪天，例如：{example}（也可写到几点，如 17:00）")
    due = deadline.due_at.astimezone(ctx.tz)
    year = int(match["y"] or due.year)
    at = due.timetz() if match["hh"] is None else time(int(match["hh"]), int(match["mm"]))
    try:
        when = datetime(year, int(match["m"]), int(match["d"]), at.hour, at.minute, tzinfo=ctx.tz)
        if match["y"] is None and due - when > timedelta(days=180):
            when = when.replace(year=year + 1)  # 1月5日 for a deadline on 12月28日
    except ValueError:
        raise BotError(f"“{text}”不是有效的日期。请重新发送，例如：{example}") from None
    if when <= due:
        raise BotError(f"延期后的时间须晚于原截止时间 {ctx.local(due)}。")
    return when


def _audit(
    ctx: Context,
    deadline: Deadline,
    owner: str,
    action: str,
    *,
    note: str = "",
    until: datetime | None = None,
    submission: Submission | None = None,
) -> None:
    record_deadline_event(
        ctx.session,
        deadline_id=deadline.id,
        action=action,
        now=ctx.now,
        owner=owner,
        person_id=ctx.person.id,
        submission_id=submission.id if submission is not None else None,
        note=note,
        until=until,
        inbound_id=ctx.inbound_id,
        source=ctx.source,
    )


# --------------------------------------------------------------------------- 催交


def handle_urge(ctx: Context, command: Urge) -> Reply:
    """催交 <材料>: the reminder to the deadline's group now, naming who still owes."""
    _oversee(ctx, "催交")
    deadline = _deadline(ctx, command.material, _usage(ctx, "催交"))
    missing = [s.entry for s in deadline_states(ctx.session, deadline) if s.state == "missing"]
    if not missing:
        raise BotError(
            f"“{named(deadline)}”已全部提交，无需催交。"
            f"发送“已交 {deadline.title.split()[0]}”可查看提交情况。"
        )
    group = deadline.group
    if group is None or not group.active:
        names = "、".join(e.name for e in missing)
        raise BotError(
            f"“{named(deadline)}”没有设置提醒群，无法在群里催交。未交：{names}。"
            + ask_organizer(ctx, "提醒群", "[[deadlines]] 的 group")
        )
    platform = platform_named(group.platform)
    parts = render_reminder(
        deadline, missing, now=ctx.now, tz=ctx.tz, limit=ctx.limit(platform, False)
    )
    count = len(deadline_events(ctx.session, deadline.id)) + 1
    base = f"urge:{deadline.key}:{count}"
    for number, part in enumerate(parts, start=1):
        key = base if number == 1 else f"{base}:p{number}"
        message = OutboundMessage(
            platform=platform,
            target_kind="group",
            target=group.key,
            text=part.text,
            title=f"{deadline.title}催交",
            mentions=part.mentions,
        )
        enqueue(ctx.session, message, dedupe_key=key, due_at=ctx.now, now=ctx.now, reason=key)
    _audit(ctx, deadline, "", URGED, note="、".join(e.name for e in missing))
    names = "、".join(e.name for e in missing)
    return Reply(
        f"已在{group.name or group.key}催交“{named(deadline)}”，点名 {len(missing)} 个：{names}"
    )


def handle_confirm_or_accept(ctx: Context, command: Confirm) -> Reply:
    """确认: a judge's 确认 <选手>, or an overseer's 确认 <单位> <材料> (same as 通过)."""
    words = command.target.split()
    if not command.venue and len(words) >= 2 and ctx.person.has_role(*OVERSEERS):
        material = " ".join(words[1:])
        if find_deadline(ctx.session, split_period(material)[0]).deadline is not None:
            return handle_review(ctx, Review(ACCEPTED, words[0], material))
    return handle_confirm(ctx, command)
