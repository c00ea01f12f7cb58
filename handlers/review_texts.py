"""The 已交 answer: each entry's latest version, when, how late, and what was decided."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.context import Context
from handlers.deadlines import EntryState, named, state_counts, timing_text
from handlers.files import human_size
from storage.deadline_events import ACCEPTED, RETURNED, Overrides
from storage.models import Deadline, Person, Submission

_REVIEW = {ACCEPTED: "已通过", RETURNED: "已退回"}


def _what(sub: Submission) -> str:
    if sub.file_name:
        return f"文件《{sub.file_name}》（{human_size(sub.file_size)}）"
    shown = sub.content if len(sub.content) <= 40 else sub.content[:40] + "…"
    return ("链接 " if sub.content.startswith("http") else "内容：") + shown


def submission_line(ctx: Context, sub: Submission, due: Deadline, versions: int) -> str:
    """``第 2 版 · 2月6日（周日）10:00 · 陈校长 · 文件《…》· 提前 1 天（共 2 版）· 已通过``."""
    who = ctx.session.get(Person, sub.person_id)
    parts = [
        f"第 {sub.version} 版",
        ctx.local(sub.submitted_at),
        who.name if who is not None else "",
        _what(sub),
        ("逾期交（" + timing_text(sub.submitted_at, due.due_at) + "）")
        if sub.late
        else timing_text(sub.submitted_at, due.due_at),
    ]
    text = " · ".join(p for p in parts if p)
    if versions > 1:
        text += f"（共 {versions} 版）"
    review = _REVIEW.get(sub.review, "")
    if review:
        text += f" · {review}" + (f"：{sub.review_note}" if sub.review_note else "")
    return text


def submitted_list(
    ctx: Context,
    deadline: Deadline,
    states: Sequence[EntryState],
    subs: Sequence[Submission],
    overrides: Overrides,
) -> str:
    """The whole 已交 answer for one deadline (one period of a repeating one)."""
    lines = [
        f"“{named(deadline)}”提交情况（截止 {ctx.local(deadline.due_at)}）：{state_counts(states)}"
    ]
    missing: list[str] = []
    number = 0
    for state in states:
        mine = [s for s in subs if s.owner == state.entry.name]
        if state.state == "missing":
            extended = overrides.extended.get(state.entry.name)
            note = f"（延期至 {ctx.local(extended)}）" if extended else ""
            returned = mine[-1] if mine and mine[-1].review == RETURNED else None
            if returned is not None:
                note += f"（第 {returned.version} 版已退回：{returned.review_note}）"
            missing.append(state.entry.name + note)
            continue
        number += 1
        shown = submission_line(ctx, mine[-1], deadline, len(mine)) if mine else "已交"
        lines.append(f"{number}. {state.entry.name}：{shown}")
    if missing:
        lines.append("未交：" + "、".join(missing))
    if overrides.exempt:
        lines.append("免交：" + "、".join(sorted(overrides.exempt)))
    if number:
        lines.append("退回或通过：退回 单位 材料 原因 / 通过 单位 材料")
    return "\n".join(lines)
