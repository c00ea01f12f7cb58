"""An organizer's day-of changes in chat (issue 19, item 4), audited.

``换评委 瑞泉中学会场 梁飞 → 王强``, ``加选手 瑞泉中学会场 新河中学``, ``改时间 瑞泉中学会场
9:30``: each is checked against the campaign, applied to the database at once (the next
message sees it), and recorded in ``config_edits``; the running service writes it into the
TOML file (``bot.reloading``), which stays the one source of truth, and re-plans reminders.
"""

from __future__ import annotations

from sqlalchemy import select

from handlers.context import Context
from handlers.errors import BotError
from handlers.messages import Reply
from handlers.pushes import push_to_person
from handlers.setup_commands import AddContestant, MoveTime, SwapJudge, resolve_time
from handlers.venues import chat_venues, match_venue, venue_name
from storage.bindings import add_edit, pending
from storage.day_of import add_contestant, move_venue, sheets_of, swap_judge
from storage.models import Person, Venue
from storage.people import active_venues

ORGANIZERS = ("organizer", "admin")
_WRITTEN = "已记录，配置文件会随后自动更新，无需重启。"


def handle_swap_judge(ctx: Context, command: SwapJudge) -> Reply:
    """换评委 [会场] 原评委 → 新评委."""
    venue = _venue(ctx, command.venue, "换评委 {会场} 原评委 → 新评委")
    if not command.old or not command.new:
        raise BotError(f"请写上原评委和新评委，例如：换评委 {venue_name(venue)} 原评委 → 新评委。")
    seat = next((j for j in venue.judges if j.person.name == command.old), None)
    if seat is None:
        judges = "、".join(j.person.name for j in venue.judges)
        raise BotError(
            f"{command.old} 不是{venue_name(venue)}的评委（评委：{judges}）。请核对后重新发送。"
        )
    new = ctx.session.scalar(select(Person).where(Person.name == command.new))
    if new is None or not new.active:
        raise BotError(
            f"名单中没有{command.new}。请先把他加入活动名单"
            "（人员表导入，或配置文件 [[people]]），再换评委。"
        )
    if any(j.person_id == new.id for j in venue.judges):
        raise BotError(f"{new.name} 已经是{venue_name(venue)}的评委。请核对后重新发送。")
    scored = sheets_of(ctx.session, venue.id, seat.person_id)
    old_name = seat.person.name
    swap_judge(ctx.session, venue, seat.person_id, new)
    _audit(ctx, "swap_judge", venue, {"old": old_name, "new": new.name})
    push_to_person(
        ctx,
        new.id,
        f"您已被安排为{venue_name(venue)}的评委（{ctx.local(venue.starts_at)}）。发送“帮助”查看如何评分。",
        key="swap-judge",
    )
    note = f"{old_name} 已评的 {scored} 位选手不再计入成绩。" if scored else ""
    return Reply(f"已将{venue_name(venue)}的评委 {old_name} 换为 {new.name}。{note}{_WRITTEN}")


def handle_add_contestant(ctx: Context, command: AddContestant) -> Reply:
    """加选手 [会场] 选手."""
    venue = _venue(ctx, command.venue, "加选手 {会场} 选手名")
    if not command.name:
        raise BotError(f"请写上选手名，例如：加选手 {venue_name(venue)} 选手名。")
    if any(c.name == command.name and c.position > 0 for c in venue.contestants):
        raise BotError(f"{command.name} 已在{venue_name(venue)}的选手名单中。发送“进度”查看名单。")
    position = add_contestant(ctx.session, venue, command.name)
    _audit(ctx, "add_contestant", venue, {"name": command.name})
    return Reply(f"已在{venue_name(venue)}加入选手 {command.name}（{position}号）。{_WRITTEN}")


def handle_move_time(ctx: Context, command: MoveTime) -> Reply:
    """改时间 [会场] [日期] 时刻."""
    venue = _venue(ctx, command.venue, "改时间 {会场} 2月13日 9:30")
    when = resolve_time(command.when, venue.starts_at, ctx.tz) if command.when else None
    if when is None:
        raise BotError(
            f"没有看懂时间“{command.when}”。请这样写：改时间 {venue_name(venue)} 9:30，"
            f"或 改时间 {venue_name(venue)} 2月13日 9:30。"
        )
    before = ctx.local(venue.starts_at)
    move_venue(ctx.session, venue, when)
    change = {"starts_at": when.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")}
    _audit(ctx, "move_time", venue, change)
    return Reply(
        f"已将{venue_name(venue)}的开始时间从 {before} 改为 {ctx.local(when)}，"
        f"会前提醒将按新时间重新安排。{_WRITTEN}"
    )


def _venue(ctx: Context, text: str, usage: str) -> Venue:
    if not ctx.person.has_role(*ORGANIZERS):
        raise BotError(
            "现场调整（换评委、加选手、改时间）由活动组织者操作。发送“帮助”查看您可以用的命令。"
        )
    venues = active_venues(ctx.session)
    if not venues:
        raise BotError("本活动还没有会场。请先导入活动表格（edubot import）。")
    if text:
        venue = match_venue(venues, text)
    else:
        here = chat_venues(ctx)
        venue = here[0] if len(here) == 1 else venues[0] if len(venues) == 1 else None
    if venue is None:
        names = "、".join(venue_name(v) for v in venues)
        example = usage.replace("{会场}", venue_name(venues[0]))
        raise BotError(f"请写上会场（{names}），例如：{example}。")
    return venue


def _audit(ctx: Context, kind: str, venue: Venue, change: dict[str, str]) -> None:
    add_edit(
        ctx.session,
        kind=kind,
        venue_key=venue.key,
        change=change,
        by=ctx.person.name,
        source=ctx.source,
        now=ctx.now,
    )


def setup_help(ctx: Context) -> str:
    """帮助's organizer block for binding and day-of changes (no `` —— `` examples: sending
    them back would change the campaign)."""
    if not ctx.person.has_role(*ORGANIZERS):
        return ""
    venues = active_venues(ctx.session)
    name = venue_name(venues[0]) if venues else "会场名"
    waiting = len(pending(ctx.session))
    lines = [
        f"同意 姓名 / 拒绝 姓名 原因：处理“绑定”申请（现有 {waiting} 条待确认）",
        f"绑定群 {name}：在会场群里发送，登记本群",
        f"换评委 {name} 原评委 → 新评委",
        f"加选手 {name} 选手名",
        f"改时间 {name} 9:30（或 2月13日 9:30；会前提醒随之重排）",
        "以上改动立即生效并记入配置文件，无需重启。",
    ]
    return "【组织者：绑定与现场调整】\n" + "\n".join(lines)
