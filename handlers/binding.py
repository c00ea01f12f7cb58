"""People and groups bind themselves (issue 19, items 2 and 3).

A person in the list whose account the config does not know sends ``绑定 尚德中学 张伟``
(pending until an organizer sends ``同意 张伟``) or ``绑定 13912345678`` (at once when the
mobile is the one listed). In a group, ``绑定群 瑞泉中学会场`` records the chat's id for that
``[[groups]]`` entry, confirmed by an organizer (at once when an organizer sends it).
Approved bindings live in the database and are applied on top of the config at every sync
(``storage.bindings.apply_bindings``). The organizers' side is ``handlers.approvals``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.commands import Command
from handlers.context import PLATFORM_NAMES, Context
from handlers.errors import BotError
from handlers.messages import InboundMessage, OutboundMessage, Platform, Reply
from handlers.parsing import parse
from handlers.pushes import enqueue, person_target
from handlers.setup_commands import Bind, BindGroup
from handlers.venues import match_venue, venue_name
from storage.bindings import GROUP, PERSON, add_binding, decide, pending_from
from storage.models import Group, Person
from storage.outbox import organizer_groups
from storage.people import Member, active_venues, people_with_role
from storage.setup_models import APPROVED, REFUSED, Binding

log = logging.getLogger("edubot.binding")

_FAILED = "抱歉，处理您的绑定申请时出错了，工作人员已收到记录。请稍后再试。"
_HOW = "发送“绑定 单位 姓名”（单位和姓名与活动名单上的一致）或“绑定 手机号”"
ORGANIZERS = ("organizer", "admin")


def handle_stranger(
    session: Session, message: InboundMessage, now: datetime
) -> tuple[Reply, str] | None:
    """The answer to a sender the config does not know, when they ask to bind (else
    ``None``: the dispatcher's usual answer). Runs in a savepoint like any handler."""
    command = parse(message.text)
    if not isinstance(command, Bind | BindGroup):
        return None
    try:
        with session.begin_nested():
            if isinstance(command, Bind):
                return bind_person(session, message, command, now), "ok"
            return bind_group(session, message, command, now, by=None), "ok"
    except BotError as refusal:
        return Reply(refusal.message), "refused"
    except Exception:
        log.exception("binding failed for %s:%s", message.platform, message.message_id)
        return Reply(_FAILED), "error"


def handle_bind(ctx: Context, command: Command) -> Reply:
    """绑定 from someone already in the list."""
    return Reply(f"您已在名单中（{_who_person(ctx.person.unit, ctx.person.name)}），无需绑定。")


def handle_bind_group(ctx: Context, command: BindGroup) -> Reply:
    """绑定群 from someone in the list (an organizer's is approved at once)."""
    return bind_group(ctx.session, ctx.message, command, ctx.now, by=ctx.person)


def bind_person(session: Session, message: InboundMessage, command: Bind, now: datetime) -> Reply:
    """Match the sender to a listed person without an id on this platform."""
    platform = message.platform
    if command.mobile:
        person = _by_mobile(session, command.mobile, platform)
        via = "mobile"
    elif command.name:
        person = _by_name(session, command.unit, command.name, platform)
        via = "name"
    else:
        raise BotError(f"请写上您的单位和姓名，或手机号：{_HOW}。")
    _replace_open_request(session, message.platform, message.sender_id, PERSON, now)
    row = add_binding(
        session,
        kind=PERSON,
        platform=platform,
        platform_id=message.sender_id,
        target=person.name,
        unit=person.unit,
        via=via,
        now=now,
    )
    who = _who_person(person.unit, person.name)
    account = f"{PLATFORM_NAMES.get(platform, platform)}账号（{message.sender_id}）"
    if via == "mobile":
        decide(session, row, APPROVED, by="手机号", now=now)
        tell_organizers(
            session, f"【绑定】{who} 已用登记的手机号绑定{account}。", f"bind:{row.id}", now
        )
        return Reply(f"绑定成功：您是 {who}。发送“帮助”查看您可以使用的命令。")
    tell_organizers(
        session,
        f"【绑定申请】{account}申请绑定为 {who}。确认是本人请发送“同意 {person.name}”，"
        f"否则发送“拒绝 {person.name} 原因”。",
        f"bind:{row.id}",
        now,
    )
    names = "、".join(p.name for p in people_with_role(session, "organizer")) or "活动组织者"
    return Reply(f"已收到绑定申请：{who}。{names}确认后即可使用，届时会通知您。")


def _by_mobile(session: Session, mobile: str, platform: str) -> Person:
    found = [p for p in _active(session) if _digits(p.mobile) == mobile]
    if not found:
        raise BotError(f"名单中没有登记手机号 {mobile} 的人员。请核对号码，或{_HOW}。")
    if len(found) > 1:
        raise BotError(f"名单中有 {len(found)} 人登记了这个手机号，请发送“绑定 单位 姓名”。")
    return _unbound(found[0], platform)


def _by_name(session: Session, unit: str, name: str, platform: str) -> Person:
    people = _active(session)
    exact = [p for p in people if p.name == name] or [
        p for p in people if not unit and p.unit and p.unit + p.name == name
    ]
    if not exact:
        similar = [p.name for p in people if p.name.startswith(name[:1]) and name in p.name]
        if len(similar) > 1:
            raise BotError(
                f"名单中有多位姓名相近的人员（{'、'.join(similar)}），请写全名和单位，"
                f"例如：绑定 单位 {similar[0]}。"
            )
        hint = f"您是不是{similar[0]}？" if similar else ""
        raise BotError(
            f"名单中没有{unit}{name}。{hint}请核对单位和姓名（与活动名单一致），"
            "或发送“绑定 手机号”。"
        )
    person = exact[0]
    if unit and person.unit and unit != person.unit and unit not in person.unit:
        raise BotError(
            f"名单中的{name}不在{unit}。请核对单位（与活动名单一致），或发送“绑定 手机号”。"
        )
    return _unbound(person, platform)


def _unbound(person: Person, platform: str) -> Person:
    if person.wecom_userid if platform == "wecom" else person.dingtalk_userid:
        name = PLATFORM_NAMES.get(platform, platform)
        raise BotError(
            f"{person.name} 已经绑定了{name}账号，一人只能绑定一个。如需更换，请联系活动组织者。"
        )
    return person


def bind_group(
    session: Session,
    message: InboundMessage,
    command: BindGroup,
    now: datetime,
    *,
    by: Member | None,
) -> Reply:
    """Record this chat's id for the ``[[groups]]`` entry ``command`` names."""
    if message.chat_type != "group" or not message.chat_id:
        raise BotError(
            f"请在要绑定的群里@机器人发送“绑定群 群名”（如 绑定群 {_example_group(session)}）。"
        )
    here = session.scalar(
        select(Group).where(Group.chat_id == message.chat_id, Group.active.is_(True))
    )
    if here is not None:
        return Reply(f"本群已登记为 {here.name or here.key}，无需再绑定。")
    if not command.name:
        raise BotError(f"请写上群名或会场名，例如：绑定群 {_example_group(session)}。")
    group = find_group(session, command.name)
    if group is None:
        raise BotError(
            f"名单中没有“{command.name}”这个群。待登记的群：{_unbound_groups(session)}。"
            "请发送“绑定群 群名”。"
        )
    if group.chat_id:
        raise BotError(f"{group.name or group.key} 已登记了另一个群。如需更换，请联系活动组织者。")
    if group.platform != message.platform:
        raise BotError(
            f"{group.name or group.key} 是{PLATFORM_NAMES.get(group.platform, group.platform)}群，"
            "请在那个群里发送。"
        )
    _replace_open_request(session, message.platform, message.chat_id, GROUP, now)
    row = add_binding(
        session,
        kind=GROUP,
        platform=message.platform,
        platform_id=message.chat_id,
        target=group.key,
        via="group",
        now=now,
    )
    name = group.name or group.key
    if by is not None and by.has_role(*ORGANIZERS):
        decide(session, row, APPROVED, by=by.name, now=now)
        return Reply(f"本群已登记为 {name}。")
    tell_organizers(
        session,
        f"【绑定群】有人在群里申请把该群登记为 {name}。确认请发送“同意群 {name}”，"
        f"否则发送“拒绝群 {name} 原因”。",
        f"bindgroup:{row.id}",
        now,
    )
    return Reply(f"已收到：本群将登记为 {name}，活动组织者确认后生效。")


def find_group(session: Session, text: str) -> Group | None:
    """The active group ``text`` names: its key or name (with or without 群), or a venue
    whose group it is (瑞泉中学会场)."""
    text = text.strip()
    groups = list(session.scalars(select(Group).where(Group.active.is_(True)).order_by(Group.id)))
    bare = text.removesuffix("群")
    for group in groups:
        if text in (group.key, group.name) or bare in (
            group.key,
            (group.name or "").removesuffix("群"),
        ):
            return group
    venue = match_venue(active_venues(session), bare)
    return venue.group if venue is not None and venue.group is not None else None


def _unbound_groups(session: Session) -> str:
    rows = session.scalars(
        select(Group).where(Group.active.is_(True), Group.chat_id == "").order_by(Group.id)
    )
    return "、".join(g.name or g.key for g in rows) or "（无）"


def _example_group(session: Session) -> str:
    venues = active_venues(session)
    return venue_name(venues[0]) if venues else "群名"


def _replace_open_request(
    session: Session, platform: str, platform_id: str, kind: str, now: datetime
) -> None:
    """A second request from the same account replaces its first."""
    old = pending_from(session, platform, platform_id, kind)
    if old is not None:
        decide(session, old, REFUSED, by="", now=now, reason="被同一账号的新申请取代")


def tell_organizers(session: Session, text: str, key: str, now: datetime) -> None:
    """Push ``text`` to every organizer with an account, else to the organizers' groups."""
    sent = False
    for person in people_with_role(session, "organizer"):
        target = person_target(person)
        if target is None:
            continue
        sent = True
        enqueue(
            session,
            OutboundMessage(platform=target[0], target_kind="person", target=target[1], text=text),
            dedupe_key=f"{key}:{person.id}"[:191],
            due_at=now,
            now=now,
            reason="binding",
        )
    if sent:
        return
    for group in organizer_groups(session):
        platform: Platform = "wecom" if group.platform == "wecom" else "dingtalk"
        enqueue(
            session,
            OutboundMessage(platform=platform, target_kind="group", target=group.key, text=text),
            dedupe_key=f"{key}:group:{group.key}"[:191],
            due_at=now,
            now=now,
            reason="binding",
        )


def tell_requester(session: Session, row: Binding, text: str, now: datetime) -> None:
    """Push ``text`` to whoever asked for ``row`` (the account, or the group)."""
    platform: Platform = "wecom" if row.platform == "wecom" else "dingtalk"
    message = (
        OutboundMessage(platform=platform, target_kind="person", target=row.platform_id, text=text)
        if row.kind == PERSON
        else OutboundMessage(platform=platform, target_kind="group", target=row.target, text=text)
    )
    enqueue(
        session,
        message,
        dedupe_key=f"binding-decided:{row.id}",
        due_at=now,
        now=now,
        reason="binding",
    )


def describe(row: Binding) -> str:
    """``尚德中学 张伟（企业微信账号 abc）`` / ``瑞泉中学会场群（群 wrXXX）``."""
    platform = PLATFORM_NAMES.get(row.platform, row.platform)
    if row.kind == PERSON:
        return f"{_who_person(row.unit, row.target)}（{platform}账号 {row.platform_id}）"
    return f"群 {row.target}（{platform}群 {row.platform_id}）"


def _who_person(unit: str, name: str) -> str:
    return f"{unit} {name}" if unit else name


def _active(session: Session) -> list[Person]:
    return list(session.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.id)))


def _digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return digits[-11:] if len(digits) > 11 and digits.startswith("86") else digits
