"""提交, 未交 and 我的: principals hand in reports, leaders ask who has not.

A submission is recorded for the submitter entry it satisfies (the person, or the unit they
belong to) as the next version, with its time and late flag; files go through the injected
``FileIntake``. ``handle_submit`` / ``handle_attachment`` refuse files until the composition
root registers handlers built with a real fetcher (``submit_handler`` / ``attachment_handler``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handlers.commands import Mine, Missing, Submit
from handlers.context import Context
from handlers.deadlines import (
    EntryState,
    entry_states,
    named,
    remaining_text,
    render_missing,
    timing_text,
)
from handlers.errors import BotError
from handlers.files import (
    FileIntake,
    StoredFile,
    display_name,
    fetch_unavailable,
    human_size,
    store_submission_file,
)
from handlers.messages import Attachment, Reply
from handlers.parsing import parse
from handlers.period_duties import (
    current_period,
    named_period,
    opened,
    pick_period,
    receipt_label,
    split_content,
)
from handlers.periods import split_period
from handlers.refusals import ask_organizer
from handlers.scopes import in_scope, scope_note
from handlers.selfcheck import answers_text, fields_of, merged
from handlers.standings import venue_table
from handlers.venues import venue_name
from storage.deadline_events import RETURNED, overrides_for
from storage.models import Deadline, DeadlineSubmitter, Person, Submission
from storage.people import Member, active_venues, venues_hosted_by, venues_judged_by
from storage.submissions import (
    DeadlineMatch,
    active_people,
    current_deadlines,
    duties_of,
    find_deadline,
    last_text_from,
    next_version,
    record_submission,
    submissions_for,
)

log = logging.getLogger("edubot.submissions")

REVIEWERS = ("host", "leader", "organizer", "admin")
INTENT_WINDOW = timedelta(minutes=10)
"""A file sent this soon after "提交 实施方案" (without content) is that submission."""
FILE_KINDS = ("file", "image", "video")

Duty = tuple[Deadline, DeadlineSubmitter]


def deadline_states(
    session: Session, deadline: Deadline, people: Sequence[Person] | None = None
) -> list[EntryState]:
    """Each entry of ``deadline`` as 已交 / 逾期交 / 未交, from what is stored now.

    A returned (退回) version does not count, and an exempted (免交) entry is left out.
    """
    everyone = active_people(session) if people is None else people
    kept = [s for s in submissions_for(session, deadline.id) if s.review != RETURNED]
    exempt = overrides_for(session, deadline.id).exempt
    states = entry_states(deadline, kept, everyone)
    return [s for s in states if s.entry.name not in exempt] if exempt else states


def open_duties(session: Session, person: Member, now: datetime | None = None) -> list[Duty]:
    """The person's deadlines whose entry has nothing submitted yet (overdue ones included);
    with ``now``, only periods that have opened."""
    people = active_people(session)
    result: list[Duty] = []
    for deadline, entry in duties_of(session, person):
        if now is not None and not opened(deadline, now):
            continue
        states = deadline_states(session, deadline, people)
        if any(s.entry.name == entry.name and s.state == "missing" for s in states):
            result.append((deadline, entry))
    return result


def _ask_about_duties(ctx: Context) -> str:
    return ask_organizer(ctx, "提交名单", "[[deadlines]] 的 submitters")


def _open_list(ctx: Context, duties: Sequence[Duty]) -> str:
    if not duties:
        return "您的材料都已提交；如需更新，发送：提交 材料名 新内容或链接。"
    lines = [
        f"{i}. {named(d)}（截止 {ctx.local(d.due_at)}，{remaining_text(d.due_at, ctx.now)}）"
        for i, (d, _entry) in enumerate(duties, start=1)
    ]
    return "您待交的材料：\n" + "\n".join(lines) + f"\n请发送：提交 {duties[0][0].title} https://…"


# --------------------------------------------------------------------------- 提交


def submit_handler(intake: FileIntake) -> Callable[[Context, Submit], Reply]:
    """A 提交 handler whose files come through ``intake`` (register it for ``Submit``)."""

    def handle(ctx: Context, command: Submit) -> Reply:
        deadline, entry = _pick_deadline(ctx, command)
        attachment = ctx.message.attachment
        # A repeating deadline's period word (第2周) is not part of what is handed in.
        content = split_content(command.content)[1] if deadline.series else command.content
        if not content and attachment is None:
            raise BotError(
                f"请附上“{deadline.title}”的内容：10 分钟内直接把文件发给我，"
                f"或发送：提交 {deadline.title} https://…"
            )
        values = None
        if deadline.fields and content and attachment is None:
            subs = submissions_for(ctx.session, deadline.id)
            earlier = [s.values for s in subs if s.owner == entry.name and s.review != RETURNED]
            values = merged(earlier, content, fields_of(deadline.fields))
        duty = (deadline, entry)
        return _record(ctx, intake, duty, content=content, attachment=attachment, values=values)

    return handle


def _pick_deadline(ctx: Context, command: Submit) -> Duty:
    duties = duties_of(ctx.session, ctx.person)
    if not duties:
        raise BotError(f"{ctx.person.name}，您目前没有需要提交的材料。{_ask_about_duties(ctx)}")
    if not command.material:
        pending = open_duties(ctx.session, ctx.person, ctx.now)
        if _one_duty(pending) and (command.content or ctx.message.attachment):
            return pending[0]
        raise BotError("请写明材料名。" + _open_list(ctx, pending))
    mine = [d for d, _ in duties]
    match = find_deadline(ctx.session, command.material, mine)
    if match.deadline is None and not match.candidates:
        match = find_deadline(ctx.session, command.material)
    if match.candidates:
        names = "、".join(d.title for d in match.candidates)
        raise BotError(f"“{command.material}”能对上多项材料：{names}。请写全称。")
    entry = next((e for d, e in duties if d is match.deadline), None)
    if match.deadline is None or entry is None:
        about = "没有找到材料" if match.deadline is None else "您不在提交名单中："
        title = command.material if match.deadline is None else match.deadline.title
        pending = open_duties(ctx.session, ctx.person, ctx.now)
        raise BotError(f"{about}“{title}”。" + _open_list(ctx, pending))
    return _in_period(ctx, match, entry, command.content)


def _in_period(ctx: Context, match: DeadlineMatch, entry: DeadlineSubmitter, content: str) -> Duty:
    """The matched deadline, or for a repeating one the period ``content`` names or owes."""
    if match.deadline is None or not match.periods:
        assert match.deadline is not None  # the callers refused a failed match
        return match.deadline, entry
    period = split_content(content)[0]
    chosen = pick_period(
        match.periods, entry.name, ctx.now, period, lambda d: deadline_states(ctx.session, d)
    )
    return chosen, entry


def _one_duty(pending: Sequence[Duty]) -> bool:
    """One deadline owed, or only periods of one repeating deadline (oldest first)."""
    series = {d.series or f"#{d.id}" for d, _ in pending}
    return len(series) == 1


def _record(
    ctx: Context,
    intake: FileIntake,
    duty: Duty,
    *,
    content: str = "",
    attachment: Attachment | None = None,
    values: dict[str, str] | None = None,
) -> Reply:
    deadline, entry = duty
    version = next_version(ctx.session, deadline.id, entry.name)
    stored = None
    if attachment is not None:
        stored = _store(
            ctx, intake, attachment, key=deadline.key, owner=entry.name, version=version
        )
    sub = record_submission(
        ctx.session,
        deadline=deadline,
        owner=entry.name,
        person=ctx.person,
        now=ctx.now,
        version=version,
        content=content,
        file_name=stored.name if stored else "",
        file_path=stored.relative_path if stored else "",
        file_size=stored.size if stored else 0,
        inbound_id=ctx.inbound_id,
        source=ctx.source,
        due=overrides_for(ctx.session, deadline.id).due_for(entry.name, deadline.due_at),
        values=values,
    )
    return Reply(_receipt(ctx, deadline, entry, sub))


def _store(
    ctx: Context, intake: FileIntake, attachment: Attachment, *, key: str, owner: str, version: int
) -> StoredFile:
    if attachment.kind not in FILE_KINDS:
        raise BotError("暂不接收语音消息。请发送文件、图片或链接。")
    try:
        data = intake.fetch(attachment)
    except BotError:
        raise
    except Exception as exc:  # network or platform trouble: say so, record nothing
        log.warning("fetching %s for %s failed", attachment.ref, ctx.source, exc_info=True)
        raise BotError("未能从平台下载文件，未记录。请稍后重发，或上传网盘后发送链接。") from exc
    name = display_name(attachment, data, ctx.message.message_id)
    return store_submission_file(
        ctx.data_dir,
        deadline_key=key,
        owner=owner,
        version=version,
        name=name,
        content=data,
        max_bytes=intake.max_bytes,
    )


def _receipt(ctx: Context, deadline: Deadline, entry: DeadlineSubmitter, sub: Submission) -> str:
    what: list[str] = []
    if sub.file_name:
        what.append(f"文件《{sub.file_name}》（{human_size(sub.file_size)}）")
    if sub.content:
        shown = sub.content if len(sub.content) <= 60 else sub.content[:60] + "…"
        what.append(("链接 " if sub.content.startswith("http") else "内容：") + shown)
    behalf = f"（代{entry.name}）" if entry.name != ctx.person.name else ""
    lines = [
        f"已收到{ctx.person.name}{behalf}提交的“{receipt_label(deadline, ctx.now, sub.late)}”"
        f"第 {sub.version} 版：" + "；".join(what),
        f"提交时间 {ctx.local(sub.submitted_at)} · 截止 {ctx.local(deadline.due_at)} · "
        + timing_text(sub.submitted_at, deadline.due_at)
        + ("（已标记为逾期提交）" if sub.late else ""),
    ]
    if sub.values:
        lines.append(answers_text(sub.values, fields_of(deadline.fields)))
    if sub.version > 1:
        lines.append(f"此前的 {sub.version - 1} 个版本均已保留。")
    others = [d for d, _ in open_duties(ctx.session, ctx.person, ctx.now) if d.id != deadline.id]
    if others:
        lines.append(
            "您还有待交：" + "；".join(f"{named(d)}（截止 {ctx.local(d.due_at)}）" for d in others)
        )
    return "\n".join(lines)


def attachment_handler(intake: FileIntake) -> Callable[[Context], Reply | None]:
    """For a file or image with no command text: None when there is no attachment."""

    def handle(ctx: Context) -> Reply | None:
        attachment = ctx.message.attachment
        if attachment is None:
            return None
        shown = attachment.filename or "文件"
        duties = duties_of(ctx.session, ctx.person)
        if not duties:
            raise BotError(f"收到《{shown}》，但您目前没有需要提交的材料。{_ask_about_duties(ctx)}")
        since = ctx.now - INTENT_WINDOW
        intent = parse(last_text_from(ctx.session, ctx.person.id, since, before=ctx.inbound_id))
        # "提交 周报" or "提交 周报 第2周" just before: the file is that (period's) report.
        if isinstance(intent, Submit) and intent.material and not split_content(intent.content)[1]:
            match = find_deadline(ctx.session, intent.material, [d for d, _ in duties])
            for deadline, entry in duties:
                if deadline is match.deadline:
                    duty = _in_period(ctx, match, entry, intent.content)
                    return _record(ctx, intake, duty, attachment=attachment)
        pending = open_duties(ctx.session, ctx.person, ctx.now)
        if pending and _one_duty(pending):
            return _record(ctx, intake, pending[0], attachment=attachment)
        hint = "请先发送“提交 材料名”，再在 10 分钟内重发文件。"
        raise BotError(
            f"收到《{shown}》，但无法确定是哪项材料。{hint}\n" + _open_list(ctx, pending)
        )

    return handle


DEFAULT_INTAKE = FileIntake(fetch_unavailable)
handle_submit = submit_handler(DEFAULT_INTAKE)
handle_attachment = attachment_handler(DEFAULT_INTAKE)


# --------------------------------------------------------------------------- 未交 / 我的


def handle_missing(ctx: Context, command: Missing) -> Reply:
    """Who has not submitted, by unit (hosts, leaders, organizers, admins; a person who
    answers for units sees those)."""
    hosts = bool(venues_hosted_by(ctx.session, ctx.person.id))
    everything = hosts or ctx.person.has_role(*REVIEWERS)
    if not (everything or ctx.oversees):
        raise BotError("“未交”名单只向主持人、领导和组织者开放。发送“我的”可查看您自己的待交材料。")
    deadlines = current_deadlines(ctx.session, ctx.now)
    if not deadlines:
        instead = (
            "发送“进度”查看会场评分进度。"
            if active_venues(ctx.session)
            else ask_organizer(ctx, "材料", "[[deadlines]]")
        )
        raise BotError(f"目前没有需要上交的材料，所以没有未交名单。{instead}")
    if command.material:
        material, period = split_period(command.material)
        match = find_deadline(ctx.session, material)
        if match.deadline is None:
            shown = match.candidates or deadlines
            names = "、".join(d.title for d in shown)
            raise BotError(
                f"没有找到唯一的材料“{command.material}”。请写材料名或前几个字，"
                f"例如：未交 {shown[0].title}（可选：{names}）"
            )
        deadlines = [match.deadline]
        if match.periods:
            periods = match.periods
            pick = named_period(periods, period, ctx.now) if period else None
            deadlines = [pick or current_period(periods, ctx.now)]
    people = active_people(ctx.session)
    blocks: list[str] = []
    for d in deadlines:
        states = deadline_states(ctx.session, d, people)
        if not everything:
            states = in_scope(states, ctx.oversees)
        if states:
            blocks.append(render_missing(d, states, now=ctx.now, tz=ctx.tz))
    if not everything:
        blocks.insert(0, scope_note(ctx.oversees) + ("" if blocks else "，目前没有要交的材料。"))
    return Reply("\n\n".join(blocks))


def handle_mine(ctx: Context, command: Mine) -> Reply:
    """My open duties: reports to hand in and sheets to score, with their times."""
    lines: list[str] = []
    duties = duties_of(ctx.session, ctx.person)
    pending = open_duties(ctx.session, ctx.person, ctx.now)
    for deadline, entry in pending:
        behalf = f"，代{entry.name}提交" if entry.kind == "unit" else ""
        late = "，仍可补交" if ctx.now > deadline.due_at else ""
        lines.append(
            f"· 交材料 {named(deadline)}：截止 {ctx.local(deadline.due_at)}"
            f"（{remaining_text(deadline.due_at, ctx.now)}{behalf}{late}）"
        )
    for venue in venues_judged_by(ctx.session, ctx.person.id):
        left = [] if venue.locked else venue_table(ctx.session, venue).missing_for(ctx.person.name)
        if left:
            when = ctx.local(venue.starts_at)
            lines.append(
                f"· 评分 {venue_name(venue)}（{when}）：还剩 {len(left)} 位未评：{'、'.join(left)}"
            )
    for venue in venues_hosted_by(ctx.session, ctx.person.id):
        if not venue.locked:
            table = venue_table(ctx.session, venue)
            lines.append(
                f"· 主持 {venue_name(venue)}：已评 {table.scored}/{table.expected}，待公布"
            )
    done = sum(1 for d, _ in duties if opened(d, ctx.now)) - len(pending)
    if not lines:
        return Reply(
            f"{ctx.person.name}，您目前没有待办事项。" + (f"已交材料 {done} 项。" if done else "")
        )
    tail = [f"已交材料 {done} 项。"] if done else []
    return Reply("\n".join([f"{ctx.person.name}的待办：", *lines, *tail]))
