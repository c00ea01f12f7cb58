"""``Settings``: the whole configuration, one frozen value."""

from __future__ import annotations

from functools import cached_property
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.config.base import FrozenModel
from bot.config.campaign import (
    CampaignConfig,
    DeadlineConfig,
    DigestConfig,
    GroupConfig,
    PersonConfig,
    RubricConfig,
    UnitConfig,
    VenueConfig,
)
from bot.config.desk import DeskSettings
from bot.config.recurring import Planned, planned_deadlines
from bot.config.service import (
    CalendarSettings,
    DatabaseSettings,
    DingTalkSettings,
    OutboxSettings,
    ServerSettings,
    WeComSettings,
)
from handlers.workdays import WorkCalendar

_E = TypeVar("_E", bound=FrozenModel)


class Settings(FrozenModel):
    """The whole configuration. Build it with ``load_settings`` / ``settings_from_mapping``."""

    timezone: str = "Asia/Shanghai"
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    wecom: WeComSettings = WeComSettings()
    dingtalk: DingTalkSettings = DingTalkSettings()
    outbox: OutboxSettings = OutboxSettings()
    calendar: CalendarSettings = CalendarSettings()
    desk: DeskSettings = DeskSettings()
    units: tuple[UnitConfig, ...] = ()
    groups: tuple[GroupConfig, ...] = ()
    people: tuple[PersonConfig, ...] = ()
    rubrics: tuple[RubricConfig, ...] = ()
    venues: tuple[VenueConfig, ...] = ()
    deadlines: tuple[DeadlineConfig, ...] = ()
    digests: tuple[DigestConfig, ...] = ()
    campaigns: tuple[CampaignConfig, ...] = ()
    source: str = "<memory>"

    @property
    def tz(self) -> ZoneInfo:
        """The campaign's time zone: due times, reminders and every text are local to it."""
        return ZoneInfo(self.timezone)

    @cached_property
    def planned_deadlines(self) -> list[Planned]:
        """The deadline rows: one-offs, and one per period of each repeating entry."""
        return planned_deadlines(self)

    @cached_property
    def work_calendar(self) -> WorkCalendar:
        """Working days for ``workdays_only``: ``[calendar]`` over chinesecalendar."""
        return self.calendar.work_calendar()

    def group(self, key: str) -> GroupConfig:
        """The ``[[groups]]`` entry with this key: meant for keys the file itself names, which
        ``check_references`` has checked; any other key raises ``KeyError`` naming it."""
        return _entry(self.groups, key, "groups")

    def person(self, name: str) -> PersonConfig:
        """The ``[[people]]`` entry with this name (spaces removed, as loaded); an unknown
        name raises ``KeyError``."""
        return _entry(self.people, name, "people", field="name")

    def rubric(self, key: str) -> RubricConfig:
        """The ``[[rubrics]]`` entry with this key; an unknown key raises ``KeyError``."""
        return _entry(self.rubrics, key, "rubrics")

    def venue(self, key: str) -> VenueConfig:
        """The ``[[venues]]`` entry with this key; an unknown key raises ``KeyError``."""
        return _entry(self.venues, key, "venues")

    def deadline(self, key: str) -> DeadlineConfig:
        """The ``[[deadlines]]`` entry with this key; an unknown key raises ``KeyError``."""
        return _entry(self.deadlines, key, "deadlines")


def _entry(entries: tuple[_E, ...], key: str, table: str, field: str = "key") -> _E:
    """The entry whose ``field`` is ``key``. A ``KeyError`` (not the bare ``StopIteration`` of
    ``next``, which a generator turns into ``RuntimeError``) names the table and the key."""
    for entry in entries:
        if getattr(entry, field) == key:
            return entry
    raise KeyError(f"[[{table}]] has no entry {field} = {key!r}")
