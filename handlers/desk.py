"""后台 and 看板: links to the web desk, always sent privately.

``后台`` hands out a one-time login link that expires in minutes (``[desk] link_minutes``);
the desk opens a session for the person's role once the link is confirmed on its page.
``看板`` hands out a projector link for one venue's results board, which works until it is
revoked on the venue page. A link asked for in a group never appears in the group: it goes
to the asker's private chat through the outbox, and the group sees only that it was sent.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from handlers.commands import Board, Desk
from handlers.context import Context, DeskLinks
from handlers.errors import BotError
from handlers.messages import Reply
from handlers.pushes import push_to_asker
from handlers.status import may_oversee, pick_venue
from handlers.venues import venue_name
from storage.desk import add_board_link, add_login
from storage.people import active_venues

DESK_ROLES = ("organizer", "admin", "leader", "host", "judge")


def desk_help(ctx: Context) -> str:
    """帮助's lines for the desk, when it is on and the person may use it; else ""."""
    if ctx.desk is None:
        return ""
    venues = active_venues(ctx.session)
    oversees = [v for v in venues if may_oversee(ctx, v)]
    judges = any(ctx.person.id in {j.person_id for j in v.judges} for v in venues)
    if not (oversees or judges):
        return ""
    lines = [f"后台 —— 网页后台的登录链接（私发给您，{ctx.desk.link_minutes} 分钟内有效）"]
    if oversees:
        lines.append(f"看板 {venue_name(oversees[0])} —— 投影用的成绩看板链接（私发）")
    return "【网页】\n" + "\n".join(lines)


def _desk(ctx: Context) -> DeskLinks:
    if ctx.desk is None:
        raise BotError(
            "网页后台尚未开启：请联系管理员在配置文件 [server] 中设置 link_secret"
            "（并在 [desk] url 或 [server] public_url 写明后台地址）。"
        )
    return ctx.desk


def handle_desk(ctx: Context, command: Desk) -> Reply:
    """A one-time link that opens the desk for the sender's role."""
    desk = _desk(ctx)
    venues = active_venues(ctx.session)
    hosts = any(v.host_id == ctx.person.id for v in venues)
    judges = any(ctx.person.id in {j.person_id for j in v.judges} for v in venues)
    if not (ctx.person.has_role("organizer", "admin", "leader") or hosts or judges):
        raise BotError(
            "网页后台供组织者、会场主持人、领导和评委使用；您的材料提交情况请发送“我的”查看。"
        )
    nonce = secrets.token_urlsafe(24)
    add_login(
        ctx.session,
        nonce=nonce,
        person_id=ctx.person.id,
        now=ctx.now,
        expires_at=ctx.now + timedelta(minutes=desk.link_minutes),
        source=ctx.origin,
    )
    text = (
        f"网页后台登录链接（{desk.link_minutes} 分钟内有效，只能使用一次，请勿转发）：\n"
        f"{desk.login_url(nonce, ctx.now)}\n打开后点“进入后台”。"
    )
    return _privately(ctx, text, key=f"desk:{nonce}")


def handle_board(ctx: Context, command: Board) -> Reply:
    """A projector link for one venue's results board (host, leaders, organizers)."""
    desk = _desk(ctx)
    allowed = [v for v in active_venues(ctx.session) if may_oversee(ctx, v)]
    venue = pick_venue(ctx, command.venue, allowed, "看板")
    if not may_oversee(ctx, venue):
        host = venue.host.name if venue.host else "未设置"
        raise BotError(
            f"{venue_name(venue)}的成绩看板链接只有本会场主持人（{host}）、领导和组织者可以获取。"
        )
    nonce = secrets.token_urlsafe(24)
    add_board_link(
        ctx.session, nonce=nonce, venue_id=venue.id, person_id=ctx.person.id, now=ctx.now
    )
    text = (
        f"{venue_name(venue)}成绩看板（投影用，全屏显示；成绩公布后显示排名）：\n"
        f"{desk.board_url(nonce)}\n此链接一直有效，可在网页后台的会场页撤销。"
    )
    return _privately(ctx, text, key=f"board:{nonce}")


def _privately(ctx: Context, text: str, *, key: str) -> Reply:
    """Answer a private chat directly; from a group, push the link to the sender's private
    chat and tell the group only that it was sent."""
    if ctx.message.chat_type != "group":
        return Reply(text)
    push_to_asker(ctx, text, dedupe_key=key, reason=key.split(":", 1)[0])
    return Reply("链接已私信发给您，请在与机器人的私聊中查看。")
