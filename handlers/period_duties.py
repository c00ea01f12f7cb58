"""Which period of a repeating deadline a message is about (提交, 未交, 我的).

A repeating ``[[deadlines]]`` entry is stored as one deadline per period (``series``). A
period is open once the previous one fell due (``opens_at``); 我的 lists the open periods a
unit still owes. A submission that names its period (``提交 周报 第2周 …``) goes there; one
that does not goes to the oldest open period the entry still owes, and only when it owes
none to the period running now, so a late report never lands silently on the wrong week.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from handlers.deadlines import EntryState, named
from handlers.errors import BotError
from handlers.periods import current_index, looks_like_period, period_key
from storage.models import Deadline

States = Callable[[Deadline], Sequence[EntryState]]


def opened(deadline: Deadline, now: datetime) -> bool:
    """Whether people may hand in for this period yet (a one-off always)."""
    return deadline.opens_at is None or deadline.opens_at <= now


def current_period(periods: Sequence[Deadline], now: datetime) -> Deadline:
    """The period running at ``now`` among ``periods`` (by due time)."""
    return periods[current_index([d.due_at for d in periods], now)]


def split_content(content: str) -> tuple[str, str]:
    """``"第2周 https://…"`` → ``("第2周", "https://…")``; content without a period word is
    kept whole."""
    head, _sep, rest = content.strip().partition(" ")
    first, _nl, more = head.partition("\n")
    if looks_like_period(first):
        tail = (more + " " + rest).strip() if more else rest.strip()
        return first, tail
    return "", content


def named_period(periods: Sequence[Deadline], period: str, now: datetime) -> Deadline:
    """The period called ``period`` (第2周 or 第二周); a refusal naming the choices."""
    wanted = period_key(period)
    hit = next((d for d in periods if period_key(d.period) == wanted), None)
    if hit is None:
        choices = "、".join(d.period for d in periods if opened(d, now))
        title = periods[0].title
        raise BotError(
            f"“{title}”没有“{period}”这一期。"
            + (f"已开始的有：{choices}。" if choices else "还没有开始的一期。")
        )
    return hit


def pick_period(
    periods: Sequence[Deadline], owner: str, now: datetime, period: str, states: States
) -> Deadline:
    """The period a submission for ``owner`` goes to; see the module docstring."""
    if period:
        hit = named_period(periods, period, now)
        if not opened(hit, now):
            running = named(current_period(periods, now))
            raise BotError(f"“{named(hit)}”还没开始，暂不能提交。请先交本期：{running}。")
        return hit
    for deadline in periods:
        if not opened(deadline, now):
            break
        if any(s.entry.name == owner and s.state == "missing" for s in states(deadline)):
            return deadline
    return current_period(periods, now)


def receipt_label(deadline: Deadline, now: datetime, late: bool) -> str:
    """``周报（第2周，逾期补交）`` for a late period, ``周报（第3周）``, or the title."""
    if not deadline.period:
        return deadline.title
    return f"{deadline.title}（{deadline.period}{'，逾期补交' if late else ''}）"
