"""The campaign page's pushes: how many are pending, sent, failed; the next ones due and
the latest sent, named as people read them (never a DingTalk session answer's URL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config import Settings
from handlers.context import local_time
from storage.models import OutboxRow

STATES = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "失败",
    "dropped": "已取消",
}
KINDS = {
    "publish": "成绩公布",
    "unpublish": "撤销公布",
    "picture": "排名图片",
    "complete": "评分完成",
    "remind:deadline": "交材料提醒",
    "remind:forum": "会场提醒",
    "overdue": "逾期名单",
    "digest": "定时汇总",
    "export": "成绩汇总表",
    "ranking": "排名",
    "outlier": "分差提醒",
    "desk": "后台链接",
    "board": "看板链接",
    "alert": "发送失败提醒",
}
SHOWN = 12


def outbox_view(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Counts by state, the next pushes due and the latest sent (answers left out)."""
    counts = dict(
        session.execute(
            select(OutboxRow.status, func.count())
            .where(OutboxRow.target_kind != "session")
            .group_by(OutboxRow.status)
        ).all()
    )
    columns = (
        OutboxRow.reason,
        OutboxRow.target_kind,
        OutboxRow.target,
        OutboxRow.status,
        OutboxRow.due_at,
        OutboxRow.sent_at,
    )
    pushes = select(*columns).where(OutboxRow.target_kind != "session")
    pending = session.execute(
        pushes.where(OutboxRow.status.in_(("pending", "sending")))
        .order_by(OutboxRow.due_at, OutboxRow.id)
        .limit(SHOWN)
    ).all()
    done = session.execute(
        pushes.where(OutboxRow.status.in_(("sent", "failed")))
        .order_by(OutboxRow.id.desc())
        .limit(SHOWN)
    ).all()
    names = _names(settings)
    return {
        "counts": [(STATES[k], int(counts.get(k, 0))) for k in STATES],
        "pending": [_line(row, names, settings, now) for row in pending],
        "done": [_line(row, names, settings, now) for row in done],
    }


def _names(settings: Settings) -> dict[str, str]:
    names = {g.key: g.name or g.key for g in settings.groups}
    for person in settings.people:
        for uid in (person.wecom_userid, person.dingtalk_userid):
            if uid:
                names[uid] = person.name
    return names


def _line(
    row: Any, names: dict[str, str], settings: Settings, now: datetime
) -> tuple[str, str, str, str]:
    reason, kind, target, status, due, sent = row
    parts = (reason or "").split(":")
    what = KINDS.get(":".join(parts[:2])) or KINDS.get(parts[0], "其他")
    where = names.get(target, "个人" if kind == "person" else "群")
    return what, where, STATES.get(status, status), local_time(sent or due, settings.tz, now)
