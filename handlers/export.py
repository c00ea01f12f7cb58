"""导出: a venue's 成绩汇总表 as a file, written under the data folder and pushed to its group.

The workbook is small (a venue has a handful of contestants), so it is written while the
message is handled; sending it to the group goes through the outbox like every push. The
file name carries the minute (``ruiquan-成绩汇总表-20220213-0830.xlsx``) and so does the
dedupe key: exporting twice in one minute rewrites the file and pushes it once.
"""

from __future__ import annotations

from pathlib import Path

from handlers.commands import Export
from handlers.context import Context
from handlers.errors import BotError
from handlers.messages import OutboundMessage, Reply, platform_named
from handlers.pushes import enqueue
from handlers.score_sheet import export_venue
from handlers.standings import venue_table
from handlers.status import may_oversee, pick_venue
from handlers.venues import chat_venues, venue_name
from storage.models import Venue
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
    if not allowed and not command.venue and not chat_venues(ctx):
        raise BotError(
            "成绩汇总表只有会场主持人、领导和组织者可以导出。发送“进度”查看您的评分情况。"
        )
    venue = pick_venue(ctx, command.venue, allowed, "导出")
    if not may_oversee(ctx, venue):
        host = venue.host.name if venue.host else "组织者"
        raise BotError(
            f"{venue_name(venue)}的成绩汇总表只有主持人（{host}）、领导和组织者可以导出。"
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
        str(path),
    ]
    lines.append(_push_file(ctx, venue, path, complete=table.complete))
    return Reply("\n".join(lines))


def _push_file(ctx: Context, venue: Venue, path: Path, *, complete: bool) -> str:
    """Queue the file for the venue's group; returns the line that tells the sender so."""
    group = venue.group
    if group is None or not group.active:
        return "本会场没有配置会场群，文件未推送。"
    name = venue_name(venue)
    text = f"{name}成绩汇总表" + ("" if complete else "（评分尚未全部完成）")
    queued = enqueue(
        ctx.session,
        OutboundMessage(
            platform=platform_named(group.platform),
            target_kind="group",
            target=group.key,
            text=text,
            title=f"{name}成绩汇总表",
            file_path=str(path),
        ),
        dedupe_key=f"export:{venue.key}:{_stamp(ctx)}",
        due_at=ctx.now,
        now=ctx.now,
        reason=f"export:{venue.key}",
    )
    where = group.name or group.key
    if not queued:
        return f"这一分钟内已推送过本表至{where}，不再重复推送（文件已更新）。"
    return f"文件将推送至{where}。"
