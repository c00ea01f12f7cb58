"""导出: a venue's 成绩汇总表 as a file, written under the data folder and sent back to
whoever asked, where they asked.

The workbook is small (a venue has a handful of contestants), so it is written while the
message is handled; sending it goes through the outbox like every push. A private 导出 is
sent to the asker; one in a group goes to that group once the venue is published (never
before: results do not reach a group before 公布). The file name carries the minute
(``ruiquan-成绩汇总表-20220213-0830.xlsx``); the dedupe key carries the minute, the target
and what the sheet says, so only an unchanged sheet to the same place is not sent twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from handlers.commands import Export
from handlers.context import Context
from handlers.errors import BotError
from handlers.messages import OutboundMessage, Platform, Reply, TargetKind, platform_named
from handlers.pushes import enqueue
from handlers.refusals import next_step
from handlers.score_sheet import export_venue
from handlers.standings import VenueTable, venue_table
from handlers.status import may_oversee, pick_venue
from handlers.venues import venue_name
from storage.models import Group, Venue
from storage.people import active_venues

FORMAT_NAMES = {"xlsx": "Excel", "csv": "CSV"}
EXPORTS_DIR = "exports"


def export_path(ctx: Context, venue: Venue, fmt: str) -> Path:
    """``<data_dir>/exports/{key}-成绩汇总表-{YYYYMMDD-HHMM}.{fmt}``, in the campaign's time."""
    return ctx.data_dir / EXPORTS_DIR / f"{venue.key}-成绩汇总表-{_stamp(ctx)}.{fmt}"


def _stamp(ctx: Context) -> str:
    return f"{ctx.now.astimezone(ctx.tz):%Y%m%d-%H%M}"


def handle_export(ctx: Context, command: Export) -> Reply:
    """The host of the venue, leaders, organizers and admins may export it."""
    allowed = [v for v in active_venues(ctx.session) if may_oversee(ctx, v)]
    venue = pick_venue(ctx, command.venue, allowed, "导出")
    if not may_oversee(ctx, venue):
        host = venue.host.name if venue.host else "未设置"
        raise BotError(
            f"{venue_name(venue)}的成绩汇总表只有本会场主持人（{host}）、领导和组织者可以导出；"
            f"成绩公布后会推送到会场群。{next_step(ctx)}"
        )

    path = export_path(ctx, venue, command.fmt)
    _, written = export_venue(
        ctx.session, venue.key, fmt=command.fmt, out=path, tz=ctx.tz, now=ctx.now
    )
    path = written or path
    table = venue_table(ctx.session, venue)
    name = venue_name(venue)
    if table.complete:
        state = f"评分已全部完成（{table.scored}/{table.expected}）"
    else:
        state = f"评分未完成（已评 {table.scored}/{table.expected}，未评处留空）"
    lines = [
        f"已导出{name}成绩汇总表（{FORMAT_NAMES.get(command.fmt, command.fmt)}，"
        f"{len(table.standings)} 位选手，{state}）：",
        path.name,  # never the server's folders: the chat may be read by anyone in it
    ]
    lines.append(_push_file(ctx, venue, table, path, command.fmt))
    return Reply("\n".join(lines))


def _push_file(ctx: Context, venue: Venue, table: VenueTable, path: Path, fmt: str) -> str:
    """Queue the file for where it was asked from; returns the line that tells the sender so.

    Asked in a group, it goes to that group, but only once the venue is published: results
    never reach a group before 公布. Asked privately (or before 公布), it goes to the asker.
    """
    name = venue_name(venue)
    group = _asking_group(ctx)
    published = venue.published_at is not None
    if group is not None and published:
        platform: Platform = platform_named(group.platform)
        kind: TargetKind = "group"
        target, where = group.key, f"文件将推送至{group.name or group.key}。"
    else:
        platform, kind, target = ctx.message.platform, "person", ctx.message.sender_id
        where = "文件将私发给您。"
        if group is not None:
            where = "成绩尚未公布，文件不发到群里，将私发给您。"
    text = f"{name}成绩汇总表" + ("" if table.complete else "（评分尚未全部完成）")
    queued = enqueue(
        ctx.session,
        OutboundMessage(
            platform=platform,
            target_kind=kind,
            target=target,
            text=text,
            title=f"{name}成绩汇总表",
            file_path=str(path),
        ),
        # A changed sheet (or another format) is a new push; the same sheet to the same
        # place in the same minute is not sent twice.
        dedupe_key=f"export:{venue.key}:{_stamp(ctx)}:{kind}:{target}:{_fingerprint(table, fmt)}",
        due_at=ctx.now,
        now=ctx.now,
        reason=f"export:{venue.key}",
    )
    if not queued:
        return "这一分钟内已发送过内容相同的表，不再重复发送（文件已更新）。"
    return where


def _asking_group(ctx: Context) -> Group | None:
    """The configured, active group the 导出 was sent in; None for a private chat."""
    if ctx.message.chat_type != "group":
        return None
    group_id = ctx.venues().group_by_chat.get(ctx.message.chat_id)
    group = ctx.session.get(Group, group_id) if group_id is not None else None
    return group if group is not None and group.active else None


def _fingerprint(table: VenueTable, fmt: str) -> str:
    """What the sheet says: every judge's scores, the ranking, and the format."""
    content = repr(
        (
            fmt,
            sorted(
                (key, str(s.total), tuple(map(str, s.items or ())))
                for key, s in table.sheets.items()
            ),
            [(s.contestant, str(s.result), s.rank) for s in table.standings],
            sorted(table.confirmed),
        )
    )
    return hashlib.sha256(content.encode()).hexdigest()[:16]
