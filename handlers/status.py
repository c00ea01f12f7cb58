"""进度, 排名 / 成绩 and 公布: what hosts, judges and leaders ask about a venue."""

from __future__ import annotations

from handlers.commands import Progress, Publish, Ranking, Unpublish
from handlers.context import Context
from handlers.errors import BotError
from handlers.messages import Reply
from handlers.phases import campaign_lines
from handlers.publishing import publish, unpublish
from handlers.pushes import push_to_asker
from handlers.refusals import ask_organizer, next_step
from handlers.report_progress import deadline_progress
from handlers.scopes import scope_note
from handlers.standings import VenueTable, ranking_text, venue_table
from handlers.venues import chat_venues, find_venue_ref, judge_ids, venue_name
from storage.models import Venue
from storage.people import active_venues

OVERSEERS = ("leader", "organizer", "admin")


def pick_venue(ctx: Context, ref: str, candidates: list[Venue], what: str) -> Venue:
    """The venue named by ``ref``, or the only candidate, or a refusal listing the choices."""
    if ref:
        venue = find_venue_ref(ctx, ref)
        if venue is None:
            raise BotError(_unknown_venue(ctx, ref, candidates, what))
        return venue
    in_chat = [f for f in chat_venues(ctx) if f in candidates] or chat_venues(ctx)
    pool = in_chat if len(in_chat) == 1 else candidates
    if len(pool) == 1:
        return pool[0]
    if not pool:
        raise BotError(no_venue_refusal(ctx, what))
    names = "、".join(venue_name(f) for f in pool)
    raise BotError(f"请写明会场，例如：{what} {venue_name(pool[0])}（可选：{names}）")


def _unknown_venue(ctx: Context, ref: str, candidates: list[Venue], what: str) -> str:
    everyone = active_venues(ctx.session)
    if not everyone:
        return no_venue_refusal(ctx, what)
    names = "、".join(venue_name(f) for f in everyone)
    first = venue_name((candidates or everyone)[0])
    return f"没有找到会场“{ref}”。请写会场名或前几个字，例如：{what} {first}（可选：{names}）"


WHO_MAY = {
    "公布": "会场主持人和组织者",
    "撤销公布": "会场主持人和组织者",
}
"""Who may send a venue command; the rest (排名, 导出, 进度) are for hosts, leaders and
organizers."""


def no_venue_refusal(ctx: Context, what: str) -> str:
    """Why ``what`` has no venue to act on, and what to send instead (a true reason: no
    venue at all, or not one this person may act on)."""
    if not active_venues(ctx.session):
        return f"本活动还没有会场，暂时不能使用“{what}”。{ask_organizer(ctx, '会场', '[[venues]]')}"
    who = WHO_MAY.get(what, "会场主持人、领导和组织者")
    return f"“{what}”只有{who}可以使用，您不在其中。{next_step(ctx)}"


def may_oversee(ctx: Context, venue: Venue) -> bool:
    """The venue's host, leaders, organizers and admins see and export its results."""
    return venue.host_id == ctx.person.id or ctx.person.has_role(*OVERSEERS)


def handle_progress(ctx: Context, command: Progress) -> Reply:
    """Judge: whom I still have to score. Host: the matrix. Leader/organizer: every venue."""
    venues = active_venues(ctx.session)
    if command.venue:
        venue = pick_venue(ctx, command.venue, venues, "进度")
        venues = [venue]
    parts: list[str] = []
    for venue in venues:
        table = venue_table(ctx.session, venue)
        if may_oversee(ctx, venue) and (command.venue or venue.host_id == ctx.person.id):
            parts.append(_matrix(table))
        elif ctx.person.id in judge_ids(venue):
            left = table.missing_for(ctx.person.name)
            parts.append(
                f"{table.venue}：您已全部评完。"
                if not left
                else f"{table.venue}：您还剩 {len(left)} 位未评：{'、'.join(left)}"
            )
        elif ctx.person.has_role(*OVERSEERS):
            state = table.state_text(venue.locked)
            parts.append(f"{table.venue}：已评 {table.scored}/{table.expected}（{state}）")
    if not command.venue and ctx.person.has_role(*OVERSEERS):
        # Organizers and leaders see the whole campaign: venues and report deadlines.
        reports = deadline_progress(ctx)
        if reports:
            parts.extend(["材料提交：", *reports])
        parts.extend(campaign_lines(ctx.phases, ctx.now, ctx.tz))
    elif not command.venue and ctx.oversees:
        reports = deadline_progress(ctx, ctx.oversees)
        if reports:
            parts.extend([f"材料提交（{scope_note(ctx.oversees)}）：", *reports])
    if not parts:
        instead = "发送“帮助”查看可用命令。" if venues else ask_organizer(ctx, "会场", "[[venues]]")
        raise BotError(f"您目前没有需要查看进度的会场。{instead}")
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
    allowed = [f for f in active_venues(ctx.session) if may_oversee(ctx, f)]
    venue = pick_venue(ctx, command.venue, allowed, "排名")
    if not may_oversee(ctx, venue):
        host = venue.host.name if venue.host else "未设置"
        raise BotError(
            f"{venue_name(venue)}的排名只向本会场主持人（{host}）、领导和组织者开放，"
            f"成绩公布后会推送到会场群。{next_step(ctx)}"
        )
    text = ranking_text(venue_table(ctx.session, venue))
    if ctx.message.chat_type == "group" and venue.published_at is None:
        # Results never reach a group before 公布: the asker gets them privately.
        push_to_asker(
            ctx,
            text,
            dedupe_key=f"ranking:{ctx.message.platform}:{ctx.message.message_id}",
            reason=f"ranking:{venue.key}",
            title=f"{venue_name(venue)}排名",
        )
        return Reply(f"{venue_name(venue)}成绩尚未公布，排名不在群里显示，已私发给您。")
    return Reply(text)


def handle_publish(ctx: Context, command: Publish) -> Reply:
    """公布: the host (or an organizer) locks the venue and pushes the result."""
    venue = _publishable(ctx, command.venue, "公布")
    sent_to = publish(ctx, venue)
    where = f"，已推送至：{'、'.join(sent_to)}" if sent_to else ""
    return Reply(
        f"已公布并锁定{venue_name(venue)}成绩{where}。\n"
        + ranking_text(venue_table(ctx.session, venue))
    )


def handle_unpublish(ctx: Context, command: Unpublish) -> Reply:
    """撤销公布: the host (or an organizer) unlocks a published venue; every group that
    received the result is told it no longer stands."""
    venue = _publishable(ctx, command.venue, "撤销公布")
    sent_to = unpublish(ctx, venue)
    where = f"已通知：{'、'.join(sent_to)}。" if sent_to else ""
    return Reply(
        f"已撤销{venue_name(venue)}的成绩公布，会场已解锁，评委可以更正评分。{where}"
        f"更正完成后请发送：公布 {venue_name(venue)}"
    )


def _publishable(ctx: Context, ref: str, what: str) -> Venue:
    """The venue ``ref`` names (or the only one) that this person may 公布 / 撤销公布."""
    allowed = [
        v
        for v in active_venues(ctx.session)
        if v.host_id == ctx.person.id or ctx.person.has_role("organizer", "admin")
    ]
    venue = pick_venue(ctx, ref, allowed, what)
    if venue not in allowed:
        host = venue.host.name if venue.host else "组织者"
        raise BotError(
            f"只有{venue_name(venue)}的主持人（{host}）或组织者可以{what}成绩。"
            f"请联系{host}发送：{what} {venue_name(venue)}"
        )
    return venue
