"""The organizers' side of binding: ``同意 张伟`` / ``同意群 瑞泉中学会场`` / ``拒绝 张伟 原因``.

A name, a group (key, name or venue) or ``#编号`` picks the waiting request; nothing picks
the only one. Several that fit are listed with their numbers, never guessed between.
"""

from __future__ import annotations

from sqlalchemy import select

from handlers.binding import ORGANIZERS, describe, find_group, tell_requester
from handlers.context import PLATFORM_NAMES, Context
from handlers.errors import BotError
from handlers.messages import Reply
from handlers.setup_commands import Approve, Reject
from storage.bindings import GROUP, PERSON, decide, pending
from storage.models import Group, Person
from storage.setup_models import APPROVED, REFUSED, Binding


def handle_approve(ctx: Context, command: Approve) -> Reply:
    """同意 / 批准 [名字 | 群 | #编号]."""
    row = _pick(ctx, command.target, group=command.group, word="同意")
    _check_free(ctx, row)
    decide(ctx.session, row, APPROVED, by=ctx.person.name, now=ctx.now)
    if row.kind == PERSON:
        text = (
            f"您的绑定已确认：您是 {describe(row).split('（')[0]}。发送“帮助”查看您可以使用的命令。"
        )
    else:
        text = "本群已登记，机器人在本群能认出会场了。"
    tell_requester(ctx.session, row, text, ctx.now)
    return Reply(f"已同意：{describe(row)}。")


def handle_reject(ctx: Context, command: Reject) -> Reply:
    """拒绝 [名字 | 群 | #编号] [原因]."""
    row = _pick(ctx, command.target, group=command.group, word="拒绝")
    reason = command.reason or "组织者未同意"
    decide(ctx.session, row, REFUSED, by=ctx.person.name, now=ctx.now, reason=reason)
    tell_requester(
        ctx.session,
        row,
        f"您的绑定申请（{describe(row).split('（')[0]}）未通过：{reason}。"
        f"如有疑问请联系{ctx.person.name}。",
        ctx.now,
    )
    return Reply(f"已拒绝：{describe(row)}，原因：{reason}。已通知申请人。")


def _pick(ctx: Context, target: str, *, group: bool, word: str) -> Binding:
    if not ctx.person.has_role(*ORGANIZERS):
        raise BotError("绑定申请由活动组织者确认。发送“帮助”查看您可以用的命令。")
    rows = pending(ctx.session, GROUP if group else None)
    if not rows:
        raise BotError("现在没有待确认的绑定申请。有人发送“绑定 单位 姓名”后，您会收到通知。")
    fits = _fitting(ctx, rows, target) if target else rows
    if not fits:
        raise BotError(f"没有“{target}”的待确认申请。{_listing(rows, word)}")
    if len(fits) > 1:
        raise BotError(f"有 {len(fits)} 条申请符合，请逐条处理。{_listing(fits, word)}")
    return fits[0]


def _fitting(ctx: Context, rows: list[Binding], target: str) -> list[Binding]:
    number = target.removeprefix("#").removeprefix("＃")
    if number.isdigit():
        return [r for r in rows if r.id == int(number)]
    group = find_group(ctx.session, target)
    return [
        r
        for r in rows
        if (r.kind == PERSON and target in (r.target, r.unit + r.target))
        or (r.kind == GROUP and group is not None and r.target == group.key)
    ]


def _listing(rows: list[Binding], word: str) -> str:
    lines = [f"#{r.id} {describe(r)} → 发送“{word} #{r.id}”" for r in rows[:10]]
    return "待确认：\n" + "\n".join(lines)


def _check_free(ctx: Context, row: Binding) -> None:
    """The person (or group) has no id on that platform yet, and nobody else has this one."""
    session = ctx.session
    if row.kind == GROUP:
        group = session.scalar(select(Group).where(Group.key == row.target))
        taken = session.scalar(select(Group).where(Group.chat_id == row.platform_id))
        if group is None or not group.active:
            raise BotError(f"{row.target} 已不在配置中。请发送“拒绝 #{row.id} 原因”。")
        if group.chat_id or taken is not None:
            raise BotError(f"{group.name or group.key} 已登记了群。请发送“拒绝 #{row.id} 原因”。")
        return
    column = Person.wecom_userid if row.platform == "wecom" else Person.dingtalk_userid
    person = session.scalar(select(Person).where(Person.name == row.target))
    owner = session.scalar(select(Person).where(column == row.platform_id))
    platform = PLATFORM_NAMES.get(row.platform, row.platform)
    if person is None or not person.active:
        raise BotError(f"{row.target} 已不在名单中。请发送“拒绝 #{row.id} 原因”。")
    if person.wecom_userid if row.platform == "wecom" else person.dingtalk_userid:
        raise BotError(
            f"{person.name} 已经绑定了{platform}账号。请发送“拒绝 #{row.id} 已绑定其他账号”。"
        )
    if owner is not None:
        raise BotError(
            f"这个{platform}账号已属于 {owner.name}。请发送“拒绝 #{row.id} 账号已被使用”。"
        )
