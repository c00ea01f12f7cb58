"""One config object: a TOML file in, a frozen, validated ``Settings`` out.

Every problem becomes a ``ConfigError`` naming the file, the key (``forums[1].judges[2]``) and
what is wrong. Naive datetimes in the file are read in the file's ``timezone``. Any string value
may be ``${ENV_VAR}`` or ``${ENV_VAR:-default}`` so secrets can live in the environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from handlers.text import parse_offset
from handlers.workdays import WorkCalendar, parse_days

Role = Literal["judge", "host", "principal", "leader", "organizer", "admin"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _offsets(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    return value


def _text_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


TextList = Annotated[tuple[str, ...], BeforeValidator(_text_list)]
OffsetList = Annotated[tuple[str, ...], BeforeValidator(_offsets)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ServerSettings(_Frozen):
    """``[server]``: where ``edubot serve`` listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    public_url: str = ""
    """How the platforms reach us, e.g. https://edubot.example.edu.cn (used in docs and links)."""
    data_dir: str = "edubot-data"
    """Where submitted files and exports are stored."""
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    """Files people submit larger than this are refused with a message naming the limit."""
    link_secret: str = ""
    """Signs download links for exported files pushed to platforms that cannot carry files
    (DingTalk robots). Empty: no links; the push says where to ask for the file instead."""
    link_ttl_hours: int = Field(default=72, gt=0)
    access_log: bool = False
    """One log line per HTTP request. Off by default: the bot logs every refusal, unknown
    sender and failure itself, and a line per callback costs intake throughput."""


class DatabaseSettings(_Frozen):
    """``[database]``: an SQLAlchemy URL. SQLite, PostgreSQL and MySQL/MariaDB work."""

    url: str = "sqlite:///edubot.db"
    busy_timeout_ms: int = Field(default=5000, ge=0)


class WeComSettings(_Frozen):
    """``[wecom]``: the self-built app and the intelligent robot."""

    corp_id: str = ""
    agent_id: str = ""
    secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    robot_token: str = ""
    robot_encoding_aes_key: str = ""
    api_base: str = "https://qyapi.weixin.qq.com"
    timestamp_tolerance_s: int = Field(default=3600, ge=0)
    """Refuse callbacks whose timestamp is further than this from now (0 = no check)."""

    @field_validator("agent_id", mode="before")
    @classmethod
    def _agent_id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("encoding_aes_key", "robot_encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: str) -> str:
        if value and len(value) != 43:
            raise ValueError("an EncodingAESKey has exactly 43 characters")
        return value

    @property
    def app_enabled(self) -> bool:
        return bool(self.token and self.encoding_aes_key and self.corp_id)

    @property
    def robot_enabled(self) -> bool:
        return bool(self.robot_token and self.robot_encoding_aes_key)


class DingTalkSettings(_Frozen):
    """``[dingtalk]``: the enterprise internal app and its robot."""

    app_key: str = ""
    app_secret: str = ""
    robot_code: str = ""
    api_base: str = "https://api.dingtalk.com"
    oapi_base: str = "https://oapi.dingtalk.com"

    @property
    def enabled(self) -> bool:
        return bool(self.app_secret)


class OutboxSettings(_Frozen):
    """``[outbox]``: how pushes are sent."""

    rate_per_minute: int = Field(default=20, gt=0)
    grace: str = "6h"
    """A push that fell due while the service was down is still sent within this time."""
    lease_seconds: int = Field(default=60, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0)
    max_attempts: int = Field(default=12, gt=0)
    send_threads: int = Field(default=4, ge=1, le=16)
    """Pushes to different robots sent at once by ``edubot serve``. Against the real
    platforms each send waits a network round trip, so more threads drain a burst faster;
    on one machine they only contend for the interpreter."""

    @field_validator("grace")
    @classmethod
    def _grace(cls, value: str) -> str:
        parse_offset(value)
        return value

    @property
    def grace_delta(self) -> timedelta:
        return parse_offset(self.grace)


class GroupConfig(_Frozen):
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


class PersonConfig(_Frozen):
    """``[[people]]``: anyone who talks to the bot or is talked about."""

    name: str = Field(min_length=1)
    roles: tuple[Role, ...] = ()
    unit: str = ""
    wecom_userid: str = ""
    dingtalk_userid: str = ""
    mobile: str = ""

    @field_validator("name", "unit")
    @classmethod
    def _name(cls, value: str) -> str:
        # The seed writes two-character names with padding ("李  强"); people type "李强".
        return re.sub(r"\s+", "", value)


class RubricItemConfig(_Frozen):
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


class RubricConfig(_Frozen):
    """``[[rubrics]]``: a score sheet (评分表)."""

    key: str = Field(min_length=1)
    name: str = ""
    decimals: int = Field(default=1, ge=0, le=4)
    aggregate: Literal["mean", "trimmed_mean"] = "mean"
    trim_min_judges: int = Field(default=5, ge=3)
    allow_total: bool = False
    outlier_threshold: Decimal = Decimal(15)
    """A judge total this far from the median of the other judges must be confirmed."""
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
        return sum((item.max for item in self.items), Decimal(0))


class ForumConfig(_Frozen):
    """``[[forums]]``: one venue (会场) of a forum."""

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

    @field_validator("judges", "contestants")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(re.sub(r"\s+", "", name) for name in value)
        if not cleaned:
            raise ValueError("the list is empty")
        dupes = sorted(name for name, n in Counter(cleaned).items() if n > 1)
        if dupes:
            raise ValueError(f"listed twice: {', '.join(dupes)}")
        return cleaned

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return re.sub(r"\s+", "", value)

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


class DeadlineConfig(_Frozen):
    """``[[deadlines]]``: a written report (上交材料) due by a date."""

    key: str = Field(min_length=1)
    title: str = Field(min_length=1)
    aliases: TextList = ()
    due: datetime
    submitters: TextList
    """Names of people, or units: then any principal of the unit may submit for it."""
    group: str = ""
    format_note: str = ""
    remind_before: OffsetList = ("3d", "1d", "2h")
    escalate_to: TextList = ()
    workdays_only: bool = False
    campaign: str = ""

    @field_validator("submitters")
    @classmethod
    def _submitters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Same padding rule as people's names and units ("李  强" is 李强).
        return tuple(re.sub(r"\s+", "", who) for who in value)

    @field_validator("remind_before")
    @classmethod
    def _before(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            parse_offset(item)
        return value


def _date_texts(value: Any) -> Any:
    """Accept TOML dates (``2027-01-01``) and strings (``"2027-01-01"``, ranges) alike."""
    if isinstance(value, str | date):
        value = [value]
    if isinstance(value, list):
        return [v.isoformat() if isinstance(v, date) else v for v in value]
    return value


DateList = Annotated[tuple[str, ...], BeforeValidator(_date_texts)]


class CalendarSettings(_Frozen):
    """``[calendar]``: the year's 放假安排, over chinesecalendar's data for any year.

    ``holidays`` are days off, ``workdays`` 调休 make-up working days (usually weekends). Each
    entry is a date (``"2027-01-01"``) or an inclusive range (``"2027-02-06..2027-02-13"``).
    """

    holidays: DateList = ()
    workdays: DateList = ()

    @field_validator("holidays", "workdays")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_days(value)
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> CalendarSettings:
        self.work_calendar()
        return self

    def work_calendar(self) -> WorkCalendar:
        """The configured days over the library's data."""
        return WorkCalendar(parse_days(self.holidays), parse_days(self.workdays))


class DigestConfig(_Frozen):
    """``[[digests]]``: a recurring summary to groups (周汇报、月小结、季通报)."""

    key: str = Field(min_length=1)
    title: str = Field(min_length=1)
    cron: str
    """Five-field crontab in the config timezone, e.g. "0 17 * * fri"."""
    to: TextList
    deadlines: TextList = ()
    forums: TextList = ()


class PhaseConfig(_Frozen):
    name: str = Field(min_length=1)
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _order(self) -> PhaseConfig:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class CampaignConfig(_Frozen):
    """``[[campaigns]]``: a titled plan with phases, printed as a timeline."""

    key: str = Field(min_length=1)
    title: str = Field(min_length=1)
    phases: tuple[PhaseConfig, ...] = ()


class Settings(_Frozen):
    """The whole configuration. Build it with ``load_settings`` / ``settings_from_mapping``."""

    timezone: str = "Asia/Shanghai"
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    wecom: WeComSettings = WeComSettings()
    dingtalk: DingTalkSettings = DingTalkSettings()
    outbox: OutboxSettings = OutboxSettings()
    calendar: CalendarSettings = CalendarSettings()
    groups: tuple[GroupConfig, ...] = ()
    people: tuple[PersonConfig, ...] = ()
    rubrics: tuple[RubricConfig, ...] = ()
    forums: tuple[ForumConfig, ...] = ()
    deadlines: tuple[DeadlineConfig, ...] = ()
    digests: tuple[DigestConfig, ...] = ()
    campaigns: tuple[CampaignConfig, ...] = ()
    source: str = "<memory>"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def work_calendar(self) -> WorkCalendar:
        """Working days for ``workdays_only``: ``[calendar]`` over chinesecalendar."""
        return self.calendar.work_calendar()

    def group(self, key: str) -> GroupConfig:
        return next(g for g in self.groups if g.key == key)

    def person(self, name: str) -> PersonConfig:
        return next(p for p in self.people if p.name == name)

    def rubric(self, key: str) -> RubricConfig:
        return next(r for r in self.rubrics if r.key == key)

    def forum(self, key: str) -> ForumConfig:
        return next(f for f in self.forums if f.key == key)

    def deadline(self, key: str) -> DeadlineConfig:
        return next(d for d in self.deadlines if d.key == key)


# --------------------------------------------------------------------------- loading


def load_settings(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate the TOML file at ``path``."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read the file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # Windows editors may add a BOM
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", "the file is not UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from exc
    return settings_from_mapping(data, source=file, env=env)


def settings_from_mapping(
    data: Mapping[str, Any], *, source: str = "<memory>", env: Mapping[str, str] | None = None
) -> Settings:
    """Validate an already-parsed mapping (used by tests and the demo)."""
    environ = os.environ if env is None else env
    expanded = _expand(dict(data), "", source, environ)
    tz_name = expanded.get("timezone", "Asia/Shanghai")
    try:
        tz = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(source, "timezone", f"unknown time zone '{tz_name}'") from exc
    _localize(expanded, tz)
    try:
        settings = Settings.model_validate({**expanded, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(source, _key_path(first["loc"], expanded), _problem(first)) from exc
    _check_references(settings)
    return settings


def _expand(value: Any, key: str, source: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = env.get(name)
            # As in the shell, ":-" also replaces a variable that is set but empty.
            if found is not None and (found or default is None):
                return found
            if default is not None:
                return default
            raise ConfigError(source, key, f"environment variable {name} is not set")

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else k, source, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]", source, env) for i, v in enumerate(value)]
    return value


_DATETIME_KEYS = {"starts_at", "due", "start", "end"}


def _localize(value: Any, tz: ZoneInfo) -> None:
    """Give naive datetimes (TOML local date-times, or strings) the config time zone."""
    if isinstance(value, dict):
        for k, v in list(value.items()):
            if k in _DATETIME_KEYS:
                value[k] = _as_aware(v, tz)
            else:
                _localize(v, tz)
    elif isinstance(value, list):
        for item in value:
            _localize(item, tz)


def _as_aware(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("/", "-"))
        except ValueError:
            return value  # pydantic reports it with the key
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value


def _key_path(loc: Sequence[int | str], data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def _problem(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling against config.example.toml)"
    if error["type"] == "missing":
        return "required key is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _check_references(s: Settings) -> None:
    """Cross-references: every name and key used must be defined, and defined once."""
    src = s.source

    def unique(items: Sequence[Any], attr: str, section: str) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            value = getattr(item, attr)
            if value in seen:
                raise ConfigError(src, f"{section}[{i}].{attr}", f"duplicate {attr} '{value}'")
            seen.add(value)

    unique(s.groups, "key", "groups")
    unique(s.people, "name", "people")
    unique(s.rubrics, "key", "rubrics")
    unique(s.forums, "key", "forums")
    unique(s.deadlines, "key", "deadlines")
    unique(s.digests, "key", "digests")
    unique(s.campaigns, "key", "campaigns")
    for attr in ("wecom_userid", "dingtalk_userid"):
        seen: dict[str, str] = {}
        for i, person in enumerate(s.people):
            value = getattr(person, attr)
            # WeCom ignores case in userids: ZhangSan and zhangsan are one account.
            same = value.lower() if attr == "wecom_userid" else value
            if value and same in seen:
                raise ConfigError(
                    src, f"people[{i}].{attr}", f"'{value}' is also {seen[same]}'s id"
                )
            seen[same] = person.name
    chats: dict[str, str] = {}
    for i, group in enumerate(s.groups):
        if group.chat_id and group.chat_id in chats:
            raise ConfigError(
                src,
                f"groups[{i}].chat_id",
                f"'{group.chat_id}' is also group {chats[group.chat_id]}'s chat_id",
            )
        chats[group.chat_id] = group.key

    groups = {g.key for g in s.groups}
    people = {p.name for p in s.people}
    units = {p.unit for p in s.people if p.unit}
    rubrics = {r.key for r in s.rubrics}
    forums = {f.key for f in s.forums}
    deadlines = {d.key for d in s.deadlines}
    campaigns = {c.key for c in s.campaigns}

    def need(value: str, known: set[str], key: str, what: str) -> None:
        if value not in known:
            hint = f" (defined: {', '.join(sorted(known))})" if known and len(known) <= 12 else ""
            raise ConfigError(src, key, f"unknown {what} '{value}'{hint}")

    for i, f in enumerate(s.forums):
        base = f"forums[{i}]"
        need(f.rubric, rubrics, f"{base}.rubric", "rubric")
        if f.host:
            need(f.host, people, f"{base}.host", "person")
        for j, judge in enumerate(f.judges):
            need(judge, people, f"{base}.judges[{j}]", "judge (not in [[people]])")
        if f.group:
            need(f.group, groups, f"{base}.group", "group")
        for j, g in enumerate(f.results_to):
            need(g, groups, f"{base}.results_to[{j}]", "group")
    for i, d in enumerate(s.deadlines):
        base = f"deadlines[{i}]"
        for j, who in enumerate(d.submitters):
            need(who, people | units, f"{base}.submitters[{j}]", "person or unit")
        if d.group:
            need(d.group, groups, f"{base}.group", "group")
        for j, g in enumerate(d.escalate_to):
            need(g, groups, f"{base}.escalate_to[{j}]", "group")
        if d.campaign:
            need(d.campaign, campaigns, f"{base}.campaign", "campaign")
    for i, dg in enumerate(s.digests):
        base = f"digests[{i}]"
        for j, g in enumerate(dg.to):
            need(g, groups, f"{base}.to[{j}]", "group")
        for j, dk in enumerate(dg.deadlines):
            need(dk, deadlines, f"{base}.deadlines[{j}]", "deadline")
        for j, fk in enumerate(dg.forums):
            need(fk, forums, f"{base}.forums[{j}]", "forum")
        _check_cron(src, f"{base}.cron", dg.cron)


def _check_cron(source: str, key: str, expr: str) -> None:
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415 - only needed here

    try:
        CronTrigger.from_crontab(expr)
    except ValueError as exc:
        raise ConfigError(source, key, f"not a crontab expression: {exc}") from exc
