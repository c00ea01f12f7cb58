"""进度, 排名 / 成绩 and 公布: what hosts, judges and leaders ask about a venue."""

from __future__ import annotations

from handlers.commands import Progress, Publish, Ranking
from handlers.context import Context
from handlers.errors import BotError
from handlers.messages import Reply
from handlers.publishing import publish
from handlers.standings import VenueTable, ranking_text, venue_table
from handlers.submissions import deadline_progress
from handlers.venues import chat_forums, find_forum_ref, judge_ids, venue_name
from storage.models import Forum
from storage.people import active_forums

OVERSEERS = ("leader", "organizer", "admin")


def pick_venue(ctx: Context, ref: str, candidates: list[Forum], what: str) -> Forum:
    """The venue named by ``ref``, or the only candidate, or a refusal listing the choices."""
    if ref:
        forum = find_forum_ref(ctx, ref)
        if forum is None:
            names = "、".join(venue_name(f) for f in active_forums(ctx.session))
            raise BotError(f"没有找到会场“{ref}”。可选：{names}")
        return forum
    in_chat = [f for f in chat_forums(ctx) if f in candidates] or chat_forums(ctx)
    pool = in_chat if len(in_chat) == 1 else candidates
    if len(pool) == 1:
        return pool[0]
    if not pool:
        raise BotError(f"您没有可{what}的会场。")
    names = "、".join(venue_name(f) for f in pool)
    raise BotError(f"请写明会场，例如：{what} {venue_name(pool[0])}（可选：{names}）")


def may_oversee(ctx: Context, forum: Forum) -> bool:
    """The venue's host, leaders, organizers and admins see and export its results."""
    return forum.host_id == ctx.person.id or ctx.person.has_role(*OVERSEERS)


def handle_progress(ctx: Context, command: Progress) -> Reply:
    """Judge: whom I still have to score. Host: the matrix. Leader/organizer: every venue."""
    forums = active_forums(ctx.session)
    if command.venue:
        forum = pick_venue(ctx, command.venue, forums, "进度")
        forums = [forum]
    parts: list[str] = []
    for forum in forums:
        table = venue_table(ctx.session, forum)
        if may_oversee(ctx, forum) and (command.venue or forum.host_id == ctx.person.id):
            parts.append(_matrix(table))
        elif ctx.person.id in judge_ids(forum):
            left = table.missing_for(ctx.person.name)
            parts.append(
                f"{table.venue}：您已全部评完。"
                if not left
                else f"{table.venue}：您还剩 {len(left)} 位未评：{'、'.join(left)}"
            )
        elif ctx.person.has_role(*OVERSEERS):
            state = "已公布" if forum.locked else ("已完成" if table.complete else "进行中")
            parts.append(f"{table.venue}：已评 {table.scored}/{table.expected}（{state}）")
    if not command.venue and ctx.person.has_role(*OVERSEERS):
        # Organizers and leaders see the whole campaign: venues and report deadlines.
        reports = deadline_progress(ctx)
        if reports:
            parts.extend(["材料提交：", *reports])
    if not parts:
        raise BotError("您目前没有需要查看进度的会场。发送“帮助”查看可用命令。")
    return Reply("\n".join(parts))


def _matrix(table: VenueTable) -> str:
    lines = [f"{table.venue} 评分进度（已评 {table.scored}/{table.expected}）"]
    for judge in table.judges:
        marks = " ".join(
            f"{c}{'✓' if (c, judge) in table.sheets else '✗'}" for c in table.contestants
        )
        lines.append(f"{judge}：{marks}")
    return "\n".join(lines)


def handle_ranking(ctx: Context, command: Ranking) -> Reply:
    """The venue table as it stands (host of the venue, leaders, organizers)."""
    allowed = [f for f in active_forums(ctx.session) if may_oversee(ctx, f)]
    forum = pick_venue(ctx, command.venue, allowed, "排名")
    if not may_oversee(ctx, forum):
        raise BotError(f"{venue_name(forum)}的排名只向主持人、领导和组织者开放。")
    return Reply(ranking_text(venue_table(ctx.session, forum)))


def handle_publish(ctx: Context, command: Publish) -> Reply:
    """公布: the host (or an organizer) locks the venue and pushes the result."""
    allowed = [
        f
        for f in active_forums(ctx.session)
        if f.host_id == ctx.person.id or ctx.person.has_role("organizer", "admin")
    ]
    forum = pick_venue(ctx, command.venue, allowed, "公布")
    if forum not in allowed:
        host = forum.host.name if forum.host else "组织者"
        raise BotError(f"只有{venue_name(forum)}的主持人（{host}）或组织者可以公布成绩。")
    sent_to = publish(ctx, forum)
    where = f"，已推送至：{'、'.join(sent_to)}" if sent_to else ""
    return Reply(
        f"已公布并锁定{venue_name(forum)}成绩{where}。\n"
        + ranking_text(venue_table(ctx.session, forum))
    )
