"""Recurring deadlines: when each occurrence falls due and what people call its period.

A ``[[deadlines]]`` entry with ``repeat`` stands for one deadline per period (周报 every
Friday, 月小结 on the last working day, 季通报 at each quarter's end, or a list of dates).
``occurrences`` computes them with dateutil's ``rrule`` (a kept library for recurrence rules,
not hand-rolled date arithmetic), then applies the Chinese calendar:

- ``monthday = "last-workday"``: the last day of the month, moved back to a working day;
- ``workdays_only``: a due day that is a holiday moves to the previous working day (a 调休
  Saturday counts as one), just as the reminder rounds do;
- ``vacations`` (寒假/暑假): occurrences due inside one are dropped when ``skip_vacations``;
- a period whose due day, moved back, would fall on or before the previous period's is
  dropped: it has no working day of its own.

Each occurrence is named for people: ``第3周`` (weeks counted from the start's week, so a
skipped holiday week keeps the numbering of the school calendar), ``3月``, ``第一季度`` or
``3月15日``, and it opens when the previous one falls due. Values in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

import cn2an
from dateutil.rrule import FR, MO, MONTHLY, SA, SU, TH, TU, WE, WEEKLY, rrule

from handlers.workdays import LIBRARY_CALENDAR, WorkCalendar

WEEKDAY_NAMES: dict[str, int] = {
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "周一": 0, "周二": 1, "周三": 2, "周四": 3, "周五": 4, "周六": 5, "周日": 6,
}  # fmt: skip
_RRULE_DAYS = (MO, TU, WE, TH, FR, SA, SU)
QUARTERS = "一二三四"
LAST_WORKDAY = "last-workday"
LAST = "last"
REPEATS = ("weekly", "monthly", "quarterly", "dates")


@dataclass(frozen=True, slots=True)
class Recurrence:
    """How a deadline repeats, as the config says it (already validated)."""

    repeat: str
    """``weekly``, ``monthly``, ``quarterly`` or ``dates``."""
    start: date
    end: date
    at: time = time(17, 0)
    weekday: int = 4
    """0 = Monday ... 6 = Sunday (weekly)."""
    monthday: int | str = LAST_WORKDAY
    """1..31, ``last`` or ``last-workday`` (monthly, quarterly)."""
    dates: tuple[date, ...] = ()
    workdays_only: bool = False
    skip_vacations: bool = True


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One period of a recurring deadline."""

    code: str
    """Stable and unique within the series: the local due date, ``2027-03-05``."""
    name: str
    """What people call it: ``第3周``, ``3月``, ``第一季度``, ``3月15日``."""
    opens_at: datetime
    due_at: datetime


def parse_weekday(value: int | str) -> int:
    """``"fri"``, ``"周五"``, ``5`` (ISO, Monday = 1) → 0..6; ``ValueError`` otherwise."""
    if isinstance(value, int):
        if 1 <= value <= 7:
            return value - 1
        raise ValueError(f"weekday {value} is not 1 (Monday) .. 7 (Sunday)")
    text = value.strip().lower()[:3] if value.isascii() else value.strip()
    if text not in WEEKDAY_NAMES:
        raise ValueError(f'\'{value}\' is not a weekday like "fri" or "周五"')
    return WEEKDAY_NAMES[text]


def _raw_days(rule: Recurrence) -> list[date]:
    """The due days before the calendar is applied."""
    if rule.repeat == "dates":
        return sorted(d for d in rule.dates if rule.start <= d <= rule.end)
    start = datetime.combine(rule.start, time())
    until = datetime.combine(rule.end, time())
    if rule.repeat == "weekly":
        found = rrule(WEEKLY, byweekday=_RRULE_DAYS[rule.weekday], dtstart=start, until=until)
        return [d.date() for d in found]
    months = (3, 6, 9, 12) if rule.repeat == "quarterly" else None
    day = -1 if isinstance(rule.monthday, str) else rule.monthday
    # A fixed day past a short month's end (31) falls on that month's last day, as people mean.
    monthdays = (day,) if day < 0 or day <= 28 else (day, -1)
    found = rrule(MONTHLY, bymonth=months, bymonthday=monthdays, dtstart=start, until=until)
    picked: dict[tuple[int, int], date] = {}
    for d in found:
        key = (d.year, d.month)
        picked[key] = min(picked.get(key, d.date()), d.date())
    return sorted(picked.values())


def _previous_working_day(day: date, calendar: WorkCalendar) -> date:
    for _ in range(40):  # the longest run of days off is far shorter
        if calendar.is_working_day(day):
            return day
        day -= timedelta(days=1)
    return day


def period_name(rule: Recurrence, due: date, origin: date) -> str:
    """``第3周`` / ``3月`` / ``第一季度`` / ``3月15日`` for an occurrence due on ``due``."""
    if rule.repeat == "weekly":
        monday = origin - timedelta(days=origin.weekday())
        return f"第{(due - monday).days // 7 + 1}周"
    if rule.repeat == "monthly":
        return f"{due.month}月"
    if rule.repeat == "quarterly":
        return f"第{QUARTERS[(due.month - 1) // 3]}季度"
    return f"{due.month}月{due.day}日"


def occurrences(
    rule: Recurrence,
    tz: tzinfo,
    *,
    calendar: WorkCalendar = LIBRARY_CALENDAR,
    vacations: Iterable[date] = (),
) -> list[Occurrence]:
    """Every occurrence of ``rule`` in time order; see the module docstring for the rules."""
    off = frozenset(vacations) if rule.skip_vacations else frozenset()
    days: list[tuple[date, date]] = []  # (shifted due day, the rule's own day for naming)
    for raw in _raw_days(rule):
        day = raw
        last_workday = rule.monthday == LAST_WORKDAY and rule.repeat != "weekly"
        if (last_workday and rule.repeat != "dates") or rule.workdays_only:
            day = _previous_working_day(day, calendar)
        if day in off or raw in off:
            continue
        if days and day <= days[-1][0]:
            # A period with no working day of its own (a whole holiday week) would fall due
            # with the one before it: there is nothing to report for it.
            continue
        days.append((day, raw))
    result: list[Occurrence] = []
    opens = datetime.combine(rule.start, time(), tz)
    for day, raw in days:
        due = datetime.combine(day, rule.at, tz)
        result.append(Occurrence(day.isoformat(), period_name(rule, raw, rule.start), opens, due))
        opens = due
    return result


# --------------------------------------------------------------------------- naming a period

_NUMERALS = re.compile(r"[一二三四五六七八九十]+")
_PERIOD = re.compile(r"^(第[0-9一二三四五六七八九十]+(周|季度)|[0-9]+月([0-9]+日)?)$")


def period_key(name: str) -> str:
    """A period name compared as typed or as written: ``第二周`` and ``第2周`` are one."""

    def digits(match: re.Match[str]) -> str:
        return str(cn2an.cn2an(match.group(), "smart"))

    return _NUMERALS.sub(digits, name.strip().replace(" ", ""))


def looks_like_period(word: str) -> bool:
    """Whether a typed word names a period (``第2周``, ``3月``, ``第一季度``, ``3月15日``)."""
    return bool(_PERIOD.match(word.strip()))


def split_period(text: str) -> tuple[str, str]:
    """``"周报 第2周"`` → ``("周报", "第2周")``; text without a period word is kept whole."""
    words = text.split()
    if len(words) >= 2 and looks_like_period(words[-1]):
        return " ".join(words[:-1]), words[-1]
    return text, ""


def current_index(due_times: Sequence[datetime], now: datetime) -> int:
    """The period that is running at ``now``: the first not yet due, else the last."""
    for index, due in enumerate(due_times):
        if now <= due:
            return index
    return max(len(due_times) - 1, 0)
