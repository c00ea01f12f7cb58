"""The campaign's sections: ``[[units]]``, ``[[groups]]``, ``[[people]]``, ``[[rubrics]]``,
``[[venues]]``, ``[[deadlines]]``, ``[[digests]]`` and ``[[campaigns]]``."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.config.base import FrozenModel, OffsetList, Role, TextList, squeeze
from handlers.periods import LAST, LAST_WORKDAY, parse_weekday
from handlers.text import parse_offset


class UnitConfig(FrozenModel):
    """``[[units]]``: a school, 共同体 or office (单位), optionally under another one."""

    name: str = Field(min_length=1)
    parent: str = ""

    @field_validator("name", "parent")
    @classmethod
    def _name(cls, value: str) -> str:
        # Same padding rule as people's units ("教育 股" is 教育股).
        return squeeze(value)


class GroupConfig(FrozenModel):
    """``[[groups]]``: a chat group on one platform."""

    key: str = Field(min_length=1)
    name: str = ""
    platform: Literal["wecom", "dingtalk"]
    webhook: str = ""
    """WeCom: the group robot webhook URL or its key. DingTalk: the custom robot URL or token."""
    secret: str = ""
    """DingTalk custom robot signing secret (SEC…)."""
    chat_id: str = ""
    """WeCom intelligent robot chatid / DingTalk openConversationId of the group."""
    organizers: bool = False
    """Permanent delivery failures are reported to this group."""


class PersonConfig(FrozenModel):
    """``[[people]]``: anyone who talks to the bot or is talked about."""

    name: str = Field(min_length=1)
    roles: tuple[Role, ...] = ()
    unit: str = ""
    wecom_userid: str = ""
    dingtalk_userid: str = ""
    mobile: str = ""
    responsible_for: TextList = ()
    """Units this person answers for (a 督学's 包点 schools): they see and are told about them."""

    @field_validator("name", "unit")
    @classmethod
    def _name(cls, value: str) -> str:
        # The seed writes two-character names with padding ("李  强"); people type "李强".
        return squeeze(value)


class RubricItemConfig(FrozenModel):
    """One row of a rubric (附件3)."""

    name: str = Field(min_length=1)
    max: Decimal
    aliases: TextList = ()

    @field_validator("max")
    @classmethod
    def _max(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("max must be greater than 0")
        return value


class RubricConfig(FrozenModel):
    """``[[rubrics]]``: a score sheet (评分表)."""

    key: str = Field(min_length=1)
    name: str = ""
    decimals: int = Field(default=1, ge=0, le=4)
    aggregate: Literal["mean", "trimmed_mean"] = "mean"
    trim_min_judges: int = Field(default=5, ge=3)
    allow_total: bool = False
    outlier_threshold: Decimal = Decimal(15)
    """A judge total this far from the median of all the judges' totals must be confirmed."""
    tie_break: TextList = ()
    """Optional tie-break chain: "unrounded", then item names (higher wins)."""
    items: tuple[RubricItemConfig, ...]

    @field_validator("items")
    @classmethod
    def _items(cls, value: tuple[RubricItemConfig, ...]) -> tuple[RubricItemConfig, ...]:
        if not value:
            raise ValueError("a rubric needs at least one item")
        seen: set[str] = set()
        for item in value:
            for label in (item.name, *item.aliases):
                if label in seen:
                    raise ValueError(f"item name or alias '{label}' is used twice")
                seen.add(label)
        return value

    @property
    def total_max(self) -> Decimal:
        """The highest total a judge can give: the sum of the items' maxima."""
        return sum((item.max for item in self.items), Decimal(0))


class VenueConfig(FrozenModel):
    """``[[venues]]``: one venue (会场) of a forum (论坛); ``[[forums]]`` in older files."""

    key: str = Field(min_length=1)
    title: str = Field(min_length=1)
    starts_at: datetime
    location: str = ""
    rubric: str
    host: str = ""
    judges: TextList
    contestants: TextList
    group: str = ""
    results_to: TextList = ()
    remind_eve: str = "18:00"
    """Time of day on the day before for the eve reminder; "" turns it off."""
    remind_before: OffsetList = ("1h",)
    auto_publish: bool = False
    """Push the result to ``results_to`` as soon as every judge has scored everyone."""
    board_live: bool = False
    """The results board (web desk) shows the ranking while scores arrive, not only once
    published."""

    @field_validator("judges", "contestants")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(squeeze(name) for name in value)
        if not cleaned:
            raise ValueError("the list is empty")
        dupes = sorted(name for name, n in Counter(cleaned).items() if n > 1)
        if dupes:
            raise ValueError(f"listed twice: {', '.join(dupes)}")
        return cleaned

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return squeeze(value)

    @field_validator("remind_eve")
    @classmethod
    def _eve(cls, value: str) -> str:
        if value:
            time.fromisoformat(value)
        return value

    @field_validator("remind_before")
    @classmethod
    def _before(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            parse_offset(item)
        return value


def day_of(value: datetime | date) -> date:
    """The calendar day of a config date or date-time (local: the loader made it aware)."""
    return value.date() if isinstance(value, datetime) else value


class FieldConfig(FrozenModel):
    """One item of a structured self-check (自查指标): a choice, or free text without choices."""

    name: str = Field(min_length=1)
    choices: TextList = ()
    """e.g. ["达标", "未达标"]; empty: any text (a note)."""
    aliases: TextList = ()


class DeadlineConfig(FrozenModel):
    """``[[deadlines]]``: a written report (上交材料) due by a date."""

    key: str = Field(min_length=1, pattern=r"^[^:@#\s]+$")
    title: str = Field(min_length=1)
    aliases: TextList = ()
    repeat: Literal["", "weekly", "monthly", "quarterly", "dates"] = ""
    """One deadline per period (``handlers.periods``): 周报、月小结、季通报."""
    due: datetime | None = Field(default=None, validate_default=True)
    """When it is due; a deadline with ``repeat`` has one due time per period instead."""
    submitters: TextList
    """Names of people, or units: then any member of the unit may submit for it, and its
    principals (all members if it has none) are the ones @-mentioned."""
    group: str = ""
    format_note: str = ""
    remind_before: OffsetList = ("3d", "1d", "2h")
    escalate_to: TextList = ()
    fields: tuple[FieldConfig, ...] = ()
    """A structured self-check: principals send one value per field (validated), and the
    export has one column per field."""
    remind_private: bool = False
    """Also remind each unit that owes privately at every round (WeCom app message, DingTalk
    one-to-one robot message), batched per platform call."""
    remind_overdue: OffsetList = ()
    """Tell a late unit itself privately this long after the due time ("0h", "1d", "3d"),
    each time only those still owing (not exempted, not extended past it)."""
    escalate_after: str = ""
    """Send the ``escalate_to`` list this long after the due time ("1d"); the people who
    answer for the late units are told at the due time itself."""
    workdays_only: bool = False
    campaign: str = ""
    weekday: int | str = "fri"
    """weekly: the day it is due ("fri", "周五", or 1..7 with Monday = 1)."""
    monthday: int | str = "last-workday"
    """monthly / quarterly: 1..31, "last" or "last-workday"."""
    time: str = "17:00"
    """The local time each period is due."""
    start: datetime | date | None = None
    end: datetime | date | None = None
    """The first and the last day periods may fall due on (inclusive)."""
    phase: str = ""
    """Instead of start/end: the span of this phase of ``campaign`` (实施阶段)."""
    dates: tuple[date, ...] = ()
    """repeat = "dates": the due days."""
    skip_vacations: bool = True
    """No period is due inside ``[calendar] vacations`` (寒假/暑假)."""

    @field_validator("due")
    @classmethod
    def _due(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        repeat = info.data.get("repeat", "")
        if value is None and not repeat:
            raise PydanticCustomError("missing", "Field required")
        if value is not None and repeat:
            raise ValueError("a repeating deadline has no due: each period has its own")
        return value

    @field_validator("escalate_after")
    @classmethod
    def _after(cls, value: str) -> str:
        if value:
            parse_offset(value)
        return value

    @field_validator("remind_overdue")
    @classmethod
    def _overdue(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            parse_offset(item)
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: tuple[FieldConfig, ...]) -> tuple[FieldConfig, ...]:
        seen: set[str] = set()
        for item in value:
            for label in (item.name, *item.aliases):
                if label in seen:
                    raise ValueError(f"field name or alias '{label}' is used twice")
                seen.add(label)
        return value

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: int | str) -> int | str:
        parse_weekday(value)
        return value

    @field_validator("monthday")
    @classmethod
    def _monthday(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 31:
            raise ValueError('monthday is 1..31, "last" or "last-workday"')
        if isinstance(value, str) and value not in (LAST, LAST_WORKDAY):
            raise ValueError('monthday is 1..31, "last" or "last-workday"')
        return value

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        time.fromisoformat(value)
        return value

    @model_validator(mode="after")
    def _when(self) -> DeadlineConfig:
        if not self.repeat:
            return self
        if self.phase and not self.campaign:
            raise ValueError("phase needs campaign (the campaign the phase belongs to)")
        if not self.phase and (self.start is None or self.end is None):
            raise ValueError("a repeating deadline needs start and end (or campaign and phase)")
        start, end = self.start, self.end
        if start is not None and end is not None and day_of(end) < day_of(start):
            raise ValueError("end is before start")
        if self.repeat == "dates" and not self.dates:
            raise ValueError('repeat = "dates" needs dates')
        return self

    @field_validator("submitters")
    @classmethod
    def _submitters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Same padding rule as people's names and units ("李  强" is 李强).
        return tuple(squeeze(who) for who in value)

    @field_validator("remind_before")
    @classmethod
    def _before(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            parse_offset(item)
        return value


class DigestConfig(FrozenModel):
    """``[[digests]]``: a recurring summary to groups (周汇报、月小结、季通报)."""

    key: str = Field(min_length=1)
    title: str = Field(min_length=1)
    cron: str
    """Five-field crontab in the config timezone, e.g. "0 17 * * fri"."""
    to: TextList
    deadlines: TextList = ()
    venues: TextList = ()
    campaign: str = ""
    """Tie it to a campaign: nothing is sent after the campaign's last phase ends."""
    phase: str = ""
    """Tie it to one phase of ``campaign``: sent only while that phase runs."""


class PhaseConfig(FrozenModel):
    """One of a campaign's ``phases``: a named span of time that ends no earlier than it starts."""

    name: str = Field(min_length=1)
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _order(self) -> PhaseConfig:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class CampaignConfig(FrozenModel):
    """``[[campaigns]]``: a titled plan with phases, printed as a timeline."""

    key: str = Field(min_length=1)
    title: str = Field(min_length=1)
    phases: tuple[PhaseConfig, ...] = ()
