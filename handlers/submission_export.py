"""``edubot submissions``: what was handed in for a deadline, as an xlsx index and a zip.

The index has one row per (period, entry): its state (已交 / 逾期交 / 未交 / 免交), the
latest version that counts, who sent it and when, the review (已退回 / 已通过) with its
reason, and the file or content. The zip holds each entry's latest counted file, named by
period and unit (``第2周_尚德中学.docx``), so an organizer hands the folder on as it is.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy.orm import Session

from handlers.context import local_time
from handlers.errors import BotError
from handlers.period_duties import named_period, opened
from handlers.selfcheck import NOTE, CheckField, fields_of
from handlers.submissions import deadline_states
from storage.deadline_events import RETURNED, overrides_for
from storage.models import Deadline, Person, Submission
from storage.submissions import active_deadlines, submissions_for

HEADER = (
    "期",
    "单位/个人",
    "状态",
    "版本",
    "提交人",
    "提交时间",
    "逾期",
    "审核",
    "审核意见",
    "文件",
    "内容",
)
_STATE = {"on_time": "已交", "late": "逾期交", "missing": "未交"}
_REVIEW = {RETURNED: "已退回", "accepted": "已通过"}


@dataclass(frozen=True, slots=True)
class Exported:
    """Where the index and the zip were written, and how many files the zip holds."""

    index: Path
    archive: Path
    files: int
    rows: int


def pick_deadlines(session: Session, key: str, period: str, now: datetime) -> list[Deadline]:
    """The deadline ``key`` names: a one-off, or the periods of a repeating one (those opened
    by ``now``, or just ``period``)."""
    found = [d for d in active_deadlines(session) if key in (d.key, d.series)]
    if not found:
        keys = sorted({d.series or d.key for d in active_deadlines(session)})
        raise BotError(f"没有材料“{key}”。可用的键：{'、'.join(keys) or '（无）'}")
    if period:
        if not found[0].series:
            raise BotError(f"“{found[0].title}”不是按期重复的材料，不用写 --period。")
        return [named_period(found, period, now)]
    return [d for d in found if opened(d, now)] or found[:1]


def _safe(name: str) -> str:
    return "".join("_" if ch in '/\\:*?"<>|' else ch for ch in name).strip() or "未命名"


def export_submissions(
    session: Session,
    deadlines: Sequence[Deadline],
    *,
    data_dir: Path,
    out_dir: Path,
    tz: ZoneInfo,
) -> Exported:
    """Write ``<key>.xlsx`` and ``<key>.zip`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _safe(deadlines[0].series or deadlines[0].key)
    index, archive = out_dir / f"{stem}.xlsx", out_dir / f"{stem}.zip"
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = _safe(deadlines[0].title)[:31]
    fields = fields_of(deadlines[0].fields)
    # A self-check: one column per indicator, then its notes.
    sheet.append((*HEADER, *(f.name for f in fields), *(("备注",) if fields else ())))
    rows = files = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for deadline in deadlines:
            subs = submissions_for(session, deadline.id)
            exempt = overrides_for(session, deadline.id).exempt
            states = {s.entry.name: s.state for s in deadline_states(session, deadline)}
            for entry in deadline.submitters:
                mine = [s for s in subs if s.owner == entry.name]
                counted = [s for s in mine if s.review != RETURNED]
                shown = counted or mine
                latest = shown[-1] if shown else None
                state = _STATE[states.get(entry.name, "missing")]
                if entry.name in exempt:
                    state = "免交"
                row = _row(session, deadline, entry.name, state, latest, tz=tz)
                sheet.append((*row, *_answers(latest, fields)))
                rows += 1
                if latest is not None and latest.file_path and latest.review != RETURNED:
                    source = data_dir / latest.file_path
                    if source.is_file():
                        suffix = PurePosixPath(latest.file_name).suffix
                        prefix = f"{deadline.period}_" if deadline.period else ""
                        zipped.write(source, _safe(f"{prefix}{entry.name}") + suffix)
                        files += 1
    book.save(index)
    return Exported(index, archive, files, rows)


def _answers(sub: Submission | None, fields: Sequence[CheckField]) -> tuple[str, ...]:
    if not fields:
        return ()
    values = (sub.values if sub is not None else None) or {}
    notes = [f"{f.name}：{values[f.name + NOTE]}" for f in fields if f.name + NOTE in values]
    return (*(values.get(f.name, "") for f in fields), "；".join(notes))


def _row(
    session: Session,
    deadline: Deadline,
    owner: str,
    state: str,
    sub: Submission | None,
    *,
    tz: ZoneInfo,
) -> tuple[str | int, ...]:
    if sub is None:
        return (deadline.period, owner, state, "", "", "", "", "", "", "", "")
    person = session.get(Person, sub.person_id)
    return (
        deadline.period,
        owner,
        state,
        sub.version,
        person.name if person is not None else "",
        local_time(sub.submitted_at, tz),
        "是" if sub.late else "",
        _REVIEW.get(sub.review, ""),
        sub.review_note,
        sub.file_name,
        sub.content,
    )
