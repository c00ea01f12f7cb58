"""帮助 and the hint for anything we do not understand.

帮助 lists only what this person may use, and every example comes from their own campaign:
the venues they judge or host, those venues' contestants and rubric items, the deadlines
they owe or oversee (``handlers.examples``). Sent back in the order shown, each is accepted.
"""

from __future__ import annotations

from handlers.catalog import VenueSpec
from handlers.commands import Help, Unknown
from handlers.context import Context
from handlers.day_of import setup_help
from handlers.desk import desk_help
from handlers.examples import example_total, labelled_values, rubric_summary, score_example
from handlers.messages import Reply
from handlers.refusals import ask_organizer
from handlers.venues import venue_name
from storage.people import active_venues
from storage.submissions import active_deadlines, duties_of

OVERSEERS = ("leader", "organizer", "admin")
ORGANIZERS = ("organizer", "admin")


def handle_help(ctx: Context, command: Help) -> Reply:
    """The commands this person may use, with examples from their own campaign."""
    sections = [
        text
        for text in (
            _judge_section(ctx),
            _host_section(ctx),
            _submitter_section(ctx),
            _overseer_section(ctx),
            setup_help(ctx),
            desk_help(ctx),
        )
        if text
    ]
    sections.append("我的 —— 我的待办和截止时间")
    unknown = _unknown_group(ctx)
    if unknown:
        sections.append(unknown)
    return Reply(f"{ctx.person.name}，您可以使用：\n" + "\n\n".join(sections))


def _unknown_group(ctx: Context) -> str:
    """For an organizer asking in a group the config does not name: the line that names it
    (the only place an organizer can read a group's chat id)."""
    chat = ctx.message.chat_id
    if ctx.message.chat_type != "group" or not chat or not ctx.person.has_role(*ORGANIZERS):
        return ""
    if chat in ctx.venues().group_by_chat:
        return ""
    return (
        f'本群还没有登记：请在配置文件中本群的 [[groups]] 里写上 chat_id = "{chat}"，'
        "机器人就能认出本群（会场群里评分、导出都靠它）。"
        "也可以在本群发送“绑定群 群名”，立即登记。"
    )


def _judge_section(ctx: Context) -> str:
    catalog = ctx.venues()
    judged = catalog.judged_by(ctx.person.id)
    if not judged:
        return ""
    here = [v for v in catalog.in_chat(ctx.message.chat_id) if v in judged]
    venue = here[0] if here else judged[0]
    # On several venues, outside one of their groups, an example names its venue first.
    prefix = "" if here or len(judged) == 1 else f"{venue_name(venue)} "
    return "【评委】\n" + "\n".join(_score_lines(venue, prefix, several=len(judged) > 1))


def _score_lines(venue: VenueSpec, prefix: str, *, several: bool) -> list[str]:
    rubric = venue.rubric
    first = venue.contestants[0] if venue.contestants else None
    if first is None:
        return [f"{venue_name(venue)}还没有选手名单。", "进度 —— 查看还有哪些选手未评"]
    second = venue.contestants[1] if len(venue.contestants) > 1 else first
    one, two = f"{prefix}{first.name}", f"{prefix}{second.position}号"
    lines = [
        f"{score_example(rubric, one)} —— 按评分表顺序逐项给分（{rubric_summary(rubric)}）",
        f"评分 {two} {labelled_values(rubric)} —— 按项目名给分，顺序不限",
    ]
    if rubric.allow_total and len(venue.contestants) > 2:
        third = f"{prefix}{venue.contestants[2].name}"
        lines.append(f"评分 {third} {example_total(rubric)} —— 只给总分")
    if second is not first:
        lines.append(
            f"评分（换行）{one} {labelled_values(rubric)}（换行）{two} "
            f"{labelled_values(rubric)} —— 一次评多位，每行一位"
        )
    lines += [
        f"{score_example(rubric, one, '更正', step=1)} —— 修改已评分数（原记录保留）",
        f"确认 {one} —— 分差过大时确认无误",
        "进度 —— 查看还有哪些选手未评",
    ]
    if several:
        lines.append("您是多个会场的评委：在会场群里发送，或像上面这样先写会场名。")
    return lines


def _host_section(ctx: Context) -> str:
    hosted = [v for v in active_venues(ctx.session) if v.host_id == ctx.person.id]
    if not hosted:
        return ""
    name = f" {venue_name(hosted[0])}" if len(hosted) > 1 else ""
    lines = [
        f"进度{name} —— 评委 × 选手评分进度",
        f"排名{name} —— 当前成绩表",
        f"公布{name} —— 评分全部完成后锁定会场并推送成绩",
        f"撤销公布{name} —— 公布后发现错误时解锁会场，并通知收到成绩的群",
        f"导出{name} —— 成绩汇总表（Excel；导出{name} csv 为 CSV）",
    ]
    deadlines = active_deadlines(ctx.session)
    if deadlines:
        lines.append(f"未交 {deadlines[0].title} —— 未提交名单（按单位）")
    return "【主持人】\n" + "\n".join(lines)


def _submitter_section(ctx: Context) -> str:
    duties = duties_of(ctx.session, ctx.person)
    if not duties:
        return ""
    title = duties[0][0].title
    return f"【交材料】\n提交 {title} https://… —— 提交材料（也可直接发送文件）"


def _overseer_section(ctx: Context) -> str:
    if not ctx.person.has_role(*OVERSEERS):
        return ""
    venues = active_venues(ctx.session)
    lines: list[str] = []
    if venues:
        name = venue_name(venues[0])
        lines += [
            f"排名 {name} —— 查看会场成绩",
            "进度 —— 各会场评分进度和材料提交情况",
            f"导出 {name} —— 成绩汇总表",
        ]
        if ctx.person.has_role("organizer", "admin"):
            lines.append(f"公布 {name} —— 组织者可代主持人公布")
            lines.append(f"撤销公布 {name} —— 公布后发现错误时解锁会场，并通知收到成绩的群")
    deadlines = active_deadlines(ctx.session)
    if deadlines:
        title = deadlines[0].title
        lines.append(f"未交 {title} —— 未提交名单（按单位）")
        lines.append(f"已交 {title} —— 谁交了什么、何时交、第几版、是否逾期")
        lines.append("退回 / 通过 / 免交 / 延期 单位 材料（退回写原因，延期写日期）")
        lines.append("催交 材料：立即在群里提醒未交的单位")
    if not venues and ctx.person.has_role(*ORGANIZERS):
        lines.append(f"本活动还没有会场。{ask_organizer(ctx, '会场', '[[venues]]')}")
    if not lines:
        return ""
    role = "组织者" if ctx.person.has_role("organizer", "admin") else "领导"
    return f"【{role}】\n" + "\n".join(lines)


def handle_unknown(ctx: Context, command: Unknown) -> Reply:
    """A short hint, never silence."""
    if not command.text:
        return Reply("请发送文字命令，例如“帮助”。")
    shown = command.text if len(command.text) <= 20 else command.text[:20] + "…"
    return Reply(f"没有听懂“{shown}”。发送“帮助”查看可用命令。")
