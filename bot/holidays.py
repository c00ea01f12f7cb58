"""Holiday data the operator can see: ``edubot calendar YEAR`` and the missing-year warning.

``workdays_only`` reminders move off holidays only where somebody knows the holidays: the
config's ``[calendar]`` or chinesecalendar. A planned reminder in a year neither knows would
silently fall on 元旦 or 春节, so ``check-config``, ``serve`` (once, at start) and ``/healthz``
(while it holds) say so in Chinese, naming the year and how to add it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from bot.config import DeadlineConfig, Settings
from handlers.context import WEEKDAYS
from handlers.text import parse_offset
from handlers.workdays import SOURCE_TEXT, CalendarDay, WorkCalendar, library_knows

_FIRST_LIBRARY_YEAR = 2004


def library_last_year() -> int:
    """The last year chinesecalendar has data for."""
    year = _FIRST_LIBRARY_YEAR
    while library_knows(year + 1):
        year += 1
    return year


def _planned_rounds(deadline: DeadlineConfig, due: datetime, now: datetime) -> Iterator[datetime]:
    """The deadline's reminder times still ahead of ``now``, before any holiday shift."""
    for label in deadline.remind_before:
        at = due - parse_offset(label)
        if now <= at < due:
            yield at


def years_without_data(settings: Settings, now: datetime) -> dict[int, list[str]]:
    """Year → titles of ``workdays_only`` deadlines with a planned reminder in that year."""
    calendar, tz = settings.work_calendar, settings.tz
    found: dict[int, list[str]] = {}
    for planned in settings.planned_deadlines:
        deadline = planned.config
        if not deadline.workdays_only:
            continue
        days = [at.astimezone(tz).date() for at in _planned_rounds(deadline, planned.due, now)]
        for year in calendar.missing_years(days):
            titles = found.setdefault(year, [])
            if deadline.title not in titles:
                titles.append(deadline.title)
    return dict(sorted(found.items()))


def holiday_warning(settings: Settings, now: datetime) -> str:
    """The Chinese warning about reminders in years without holiday data, or ``""``."""
    missing = years_without_data(settings, now)
    if not missing:
        return ""
    years = "、".join(f"{y} 年" for y in missing)
    titles = "、".join(dict.fromkeys(t for ts in missing.values() for t in ts))
    first = next(iter(missing))
    return (
        f"注意：{years}没有节假日数据（chinesecalendar 只到 {library_last_year()} 年，"
        f"配置文件也没有写），“仅工作日”的提醒（{titles}）在这些年份只按周一至周五计算，"
        f"元旦、春节等假日会被当作工作日。请在配置文件的 [calendar] 中写入 {first} 年的放假安排，"
        f'例如 holidays = ["{first}-01-01"]、workdays = ["{first}-02-20"]（调休上班日），'
        f"用 edubot check-config 检查、edubot calendar {first} 核对；{_taking_effect(settings)}"
    )


def _taking_effect(settings: Settings) -> str:
    """How a saved ``[calendar]`` reaches the running service (``bot.reloading``): no restart."""
    if settings.server.config_poll_seconds > 0:
        return "保存后运行中的服务会自动载入，无需重启。"
    return "保存后运行 edubot reload，运行中的服务即载入，无需重启。"


def describe_year(calendar: WorkCalendar, year: int) -> str:
    """The year's days off on weekdays and make-up working days, and who says so."""
    source = calendar.year_source(year)
    head = f"{year} 年节假日（{SOURCE_TEXT[source]}"
    if source == "weekday":
        head += f" — no holiday data for {year}）"
        return (
            f"{head}\n  只按周一至周五计算：没有 {year} 年的放假安排。"
            f"请在配置文件 [calendar] 中写入 holidays 和 workdays。"
        )
    lines = [head + "）"]
    days = calendar.exceptions(year)
    off = [d for d in days if not d.working]
    work = [d for d in days if d.working]
    lines.append(f"放假（工作日休息）{len(off)} 天:")
    lines.extend(_day_line(d) for d in off)
    lines.append(f"调休上班 {len(work)} 天:")
    lines.extend(_day_line(d) for d in work)
    return "\n".join(lines)


def _day_line(entry: CalendarDay) -> str:
    label = f"  {entry.day.isoformat()} 周{WEEKDAYS[entry.day.weekday()]}"
    if entry.name:
        label += f" {entry.name}"
    return f"{label}（{SOURCE_TEXT[entry.source]}）"
