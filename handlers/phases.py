"""A campaign's phases (准备/实施/总结 …) as 进度 and digests say them.

``实施阶段 第 2 周，还剩 5 天``: which phase runs at ``now``, its week counted from the
phase's first day, and the days left to its last. Values in, values out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from handlers.context import local_time


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of one campaign, as the config gives it."""

    campaign: str
    """The campaign's key."""
    title: str
    """The campaign's title."""
    name: str
    start: datetime
    end: datetime


def phase_at(phases: Sequence[Phase], now: datetime, campaign: str = "") -> Phase | None:
    """The phase running at ``now`` (of ``campaign`` when given), else None."""
    for phase in phases:
        if campaign and phase.campaign != campaign:
            continue
        if phase.start <= now <= phase.end:
            return phase
    return None


def phase_text(phase: Phase, now: datetime, tz: tzinfo) -> str:
    """``实施阶段 第 2 周，还剩 5 天`` (``…，今天结束`` on its last day)."""
    today = now.astimezone(tz).date()
    first = phase.start.astimezone(tz).date()
    last = phase.end.astimezone(tz).date()
    week = (today - first).days // 7 + 1
    left = (last - today).days
    return f"{phase.name} 第 {week} 周，" + (f"还剩 {left} 天" if left > 0 else "今天结束")


def campaign_lines(phases: Sequence[Phase], now: datetime, tz: tzinfo) -> list[str]:
    """One line per campaign: its running phase, or that it has not begun or has ended."""
    lines: list[str] = []
    for key in dict.fromkeys(p.campaign for p in phases):
        mine = [p for p in phases if p.campaign == key]
        title = mine[0].title
        running = phase_at(mine, now)
        if running is not None:
            lines.append(f"{title}：{phase_text(running, now, tz)}")
        elif now < min(p.start for p in mine):
            first = min(mine, key=lambda p: p.start)
            lines.append(f"{title}：尚未开始（{first.name} {local_time(first.start, tz, now)} 起）")
        elif now > max(p.end for p in mine):
            lines.append(f"{title}：已结束")
        else:
            following = min((p for p in mine if p.start > now), key=lambda p: p.start)
            when = local_time(following.start, tz, now)
            lines.append(f"{title}：阶段间隙（{following.name} {when} 起）")
    return lines


def campaign_over(phases: Sequence[Phase], campaign: str, now: datetime) -> bool:
    """Whether every phase of ``campaign`` has ended (a campaign without phases never is)."""
    ends = [p.end for p in phases if p.campaign == campaign]
    return bool(ends) and now > max(ends)


def same_phase(name: str, wanted: str) -> bool:
    """``实施阶段`` and ``实施`` name the same phase."""
    return name.removesuffix("阶段") == wanted.removesuffix("阶段")
