"""Which days are Chinese working days, and who says so.

Three sources, in order of precedence:

- ``config``: the ``[calendar]`` section's ``holidays`` (days off) and ``workdays`` (调休
  make-up working days). The State Council publishes each year's 放假安排 around November;
  a bureau can type it in the day it appears instead of waiting for a library release.
- ``chinesecalendar``: the library's data, for the years it knows (2004 up to its release).
- ``weekday``: Monday to Friday, for a year nobody has data for. Holidays then count as
  working days, which is why ``missing_years`` exists: the service warns before it matters.

A configured day always wins; a day the config does not mention falls through to the
library, then to the weekday rule. ``reminder_times`` places a deadline's reminder rounds on
working days. Values in, values out: nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import cache
from typing import Literal

import chinese_calendar

from handlers.text import parse_offset

Source = Literal["config", "chinesecalendar", "weekday"]

SOURCE_TEXT: dict[Source, str] = {
    "config": "from the config",
    "chinesecalendar": "from chinesecalendar",
    "weekday": "weekday rule only",
}


@cache
def library_knows(year: int) -> bool:
    """Whether ``chinese_calendar`` has the State Council's schedule for ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


_HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def _library_holiday_name(day: date) -> str:
    """The holiday's Chinese name for ``day`` from the library (e.g. 春节), or ``""``."""
    _on_holiday, name = chinese_calendar.get_holiday_detail(day)
    text = str(name or "")
    return _HOLIDAY_NAMES.get(text, text)


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """A day that differs from the weekday rule: a weekday off or a weekend at work."""

    day: date
    working: bool
    source: Source
    name: str = ""
    """The holiday's name where the source gives one."""


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Working days: configured days first, then the library, then Monday–Friday."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        both = self.holidays & self.workdays
        if both:
            first = min(both).isoformat()
            raise ValueError(f"{first} is both a holiday and a make-up working day")

    def configured_years(self) -> frozenset[int]:
        """The years the config says anything about."""
        return frozenset(d.year for d in self.holidays | self.workdays)

    def day_source(self, day: date) -> Source:
        """Who decides whether ``day`` is a working day."""
        if day in self.holidays or day in self.workdays:
            return "config"
        return "chinesecalendar" if library_knows(day.year) else "weekday"

    def year_source(self, year: int) -> Source:
        """The best source for a whole year: the config if it names any day of it."""
        if year in self.configured_years():
            return "config"
        return "chinesecalendar" if library_knows(year) else "weekday"

    def has_data(self, year: int) -> bool:
        """Whether holidays of ``year`` are known at all (config or library)."""
        return self.year_source(year) != "weekday"

    def is_working_day(self, day: date) -> bool:
        """A Chinese working day: 调休 make-up days count, statutory holidays do not."""
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        if library_knows(day.year):
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def exceptions(self, year: int) -> list[CalendarDay]:
        """The days of ``year`` that break the weekday rule, each with its source."""
        out: list[CalendarDay] = []
        for day in _days_of(year):
            working = self.is_working_day(day)
            if working == (day.weekday() < 5):
                continue
            source = self.day_source(day)
            name = _library_holiday_name(day) if source == "chinesecalendar" else ""
            out.append(CalendarDay(day, working, source, name))
        return out

    def missing_years(self, days: Iterable[date]) -> list[int]:
        """The years among ``days`` with no holiday data, in order."""
        return sorted({d.year for d in days if not self.has_data(d.year)})


def _days_of(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


# --------------------------------------------------------------------------- reminder times

_MAX_SHIFT_DAYS = 40  # the longest run of days off (春节 + weekends) is far shorter
LIBRARY_CALENDAR = WorkCalendar()
"""No configured days: chinesecalendar, then the weekday rule."""


def previous_working_time(
    at: datetime, tz: tzinfo, calendar: WorkCalendar = LIBRARY_CALENDAR
) -> datetime:
    """``at`` itself on a working day, else the same local time on the previous working day."""
    local = at.astimezone(tz)
    day = local.date()
    for _ in range(_MAX_SHIFT_DAYS):
        if calendar.is_working_day(day):
            break
        day -= timedelta(days=1)
    if day == local.date():
        return at
    return datetime.combine(day, local.timetz())


def reminder_times(
    due: datetime,
    offsets: Sequence[str],
    *,
    workdays_only: bool,
    tz: tzinfo,
    calendar: WorkCalendar = LIBRARY_CALENDAR,
) -> list[tuple[str, datetime]]:
    """(round, time) pairs in time order: ``due - offset`` for each offset (``"3d"``, ``"2h"``).

    With ``workdays_only`` a time on a holiday or weekend moves to the previous working day
    of ``calendar`` (the config's ``[calendar]`` over the library's data). A round at or
    after ``due`` is dropped (the overdue list covers it), and so is a round that lands on
    the time of an earlier-listed round (two pushes at once are noise).
    """
    kept: dict[datetime, str] = {}
    for label in offsets:
        at = due - parse_offset(label)
        if workdays_only:
            at = previous_working_time(at, tz, calendar)
        if at < due and at not in kept:
            kept[at] = label
    return sorted(((label, at) for at, label in kept.items()), key=lambda pair: pair[1])


def parse_days(values: Iterable[str]) -> frozenset[date]:
    """``["2027-01-01", "2027-02-06..2027-02-13"]`` → the days, ranges inclusive.

    Raises ``ValueError`` naming the entry that is not a date or a ``start..end`` range.
    """
    days: set[date] = set()
    for raw in values:
        text = raw.strip()
        start_text, sep, end_text = text.partition("..")
        try:
            start = date.fromisoformat(start_text.strip())
            end = date.fromisoformat(end_text.strip()) if sep else start
        except ValueError:
            raise ValueError(
                f"'{raw}' is not a date like 2027-01-01 or a range like 2027-02-06..2027-02-13"
            ) from None
        if end < start:
            raise ValueError(f"'{raw}': the range ends before it starts")
        if (end - start).days > 366:
            raise ValueError(f"'{raw}': a range longer than a year is surely a typo")
        day = start
        while day <= end:
            days.add(day)
            day += timedelta(days=1)
    return frozenset(days)
