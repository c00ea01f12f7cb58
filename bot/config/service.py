"""The service's own sections: ``[server]``, ``[database]``, ``[wecom]``, ``[dingtalk]``,
``[outbox]`` and ``[calendar]``."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from bot.config.base import DateList, FrozenModel
from handlers.text import parse_offset
from handlers.workdays import WorkCalendar, parse_days


class ServerSettings(FrozenModel):
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
    read_timeout_s: float = Field(default=15.0, gt=0)
    """A client must send each whole request (headers and body) within this, or is dropped."""
    config_poll_seconds: float = Field(default=5.0, ge=0)
    """How often ``serve`` looks for a changed config file, ``edubot reload`` and chat edits
    to write into the file (``bot.reloading``); 0 turns it off."""
    workers: int = Field(default=0, ge=0, le=64)
    """Intake processes behind the port (``edubot serve --workers``). 0: one per core
    this process may run on, at most ``bot.workers.DEFAULT_MAX`` (one per core is the most
    that helps; each costs ~110 MiB)."""
    access_log: bool = False
    """One log line per HTTP request. Off by default: the bot logs every refusal, unknown
    sender and failure itself, and a line per callback costs intake throughput."""


class DatabaseSettings(FrozenModel):
    """``[database]``: an SQLAlchemy URL. SQLite, PostgreSQL and MySQL/MariaDB work."""

    url: str = "sqlite:///edubot.db"
    busy_timeout_ms: int = Field(default=5000, ge=0)
    sqlite_synchronous: Literal["full", "normal"] = "full"
    """SQLite: "full" syncs every commit (an answered message survives a power cut);
    "normal" is faster but may lose the last commits on an OS crash or power loss."""
    connect_timeout_s: int = Field(default=2, ge=2, le=60)
    """PostgreSQL / MariaDB: give up opening a connection after this (libpq's minimum is 2)."""
    statement_timeout_ms: int = Field(default=2000, ge=100)
    """PostgreSQL / MariaDB: a statement, commit or ping that has no answer by then fails, so a
    webhook answers 503 instead of hanging when the server stops answering."""

    def engine_options(self) -> dict[str, Any]:
        """The keyword arguments ``storage.db.make_engine`` takes from this section."""
        return {
            "busy_timeout_ms": self.busy_timeout_ms,
            "sqlite_synchronous": self.sqlite_synchronous.upper(),
            "connect_timeout_s": self.connect_timeout_s,
            "statement_timeout_ms": self.statement_timeout_ms,
        }


class WeComSettings(FrozenModel):
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
    robot_mode: Literal["callback", "websocket"] = "callback"
    """How the intelligent robot hears groups: WeCom POSTs to ``/wecom/robot`` (needs a
    public URL), or edubot opens the robot's long connection itself (needs none)."""
    robot_bot_id: str = ""
    robot_secret: str = ""
    robot_ws_url: str = "wss://openws.work.weixin.qq.com"
    robot_lease_seconds: int = Field(default=20, ge=2, le=600)
    """WeCom allows one connection per robot: the instance holding the database lease
    connects, renewing it every quarter of this; another takes over this long after a crash."""
    proxy: str = ""
    """An HTTP proxy for the long connection (``http://host:port``); empty: ``HTTPS_PROXY``."""

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

    @model_validator(mode="after")
    def _websocket_credentials(self) -> WeComSettings:
        if self.robot_mode == "websocket" and not (self.robot_bot_id and self.robot_secret):
            raise ValueError('robot_mode = "websocket" needs robot_bot_id and robot_secret')
        return self

    @property
    def app_enabled(self) -> bool:
        """Whether the self-built app's callback is configured (token, EncodingAESKey, corp
        id); without it ``/wecom/callback`` refuses every request."""
        return bool(self.token and self.encoding_aes_key and self.corp_id)

    @property
    def robot_enabled(self) -> bool:
        """Whether the intelligent robot's callback is configured (token, EncodingAESKey);
        without it ``/wecom/robot`` refuses every request."""
        return bool(self.robot_token and self.robot_encoding_aes_key)


class DingTalkSettings(FrozenModel):
    """``[dingtalk]``: the enterprise internal app and its robot."""

    app_key: str = ""
    app_secret: str = ""
    robot_code: str = ""
    api_base: str = "https://api.dingtalk.com"
    oapi_base: str = "https://oapi.dingtalk.com"
    mode: Literal["http", "stream"] = "http"
    """How the robot hears messages: DingTalk POSTs to ``/dingtalk/callback`` (needs a public
    URL), or edubot opens a Stream mode connection itself (needs none)."""
    proxy: str = ""
    """An HTTP proxy for the Stream connection (``http://host:port``); empty: ``HTTPS_PROXY``."""

    @model_validator(mode="after")
    def _stream_credentials(self) -> DingTalkSettings:
        if self.mode == "stream" and not (self.app_key and self.app_secret):
            raise ValueError('mode = "stream" needs app_key and app_secret')
        return self

    @property
    def enabled(self) -> bool:
        """Whether the app secret that DingTalk signs callbacks with is set; without it
        ``/dingtalk/callback`` refuses every request."""
        return bool(self.app_secret)


class OutboxSettings(FrozenModel):
    """``[outbox]``: how pushes are sent."""

    rate_per_minute: int = Field(default=20, gt=0)
    grace: str = "6h"
    """A push that fell due while the service was down is still sent within this time."""
    lease_seconds: int = Field(default=90, gt=0)
    """How long a claimed push is this instance's; at least twice ``request_timeout_s``."""
    request_timeout_s: float = Field(default=30.0, gt=0, le=300)
    """The longest one push's request may take (connect, send, answer)."""
    poll_seconds: float = Field(default=2.0, gt=0)
    max_attempts: int = Field(default=12, gt=0)
    send_threads: int = Field(default=8, ge=1, le=64)
    """Requests ``edubot serve`` has under way at once, each to a different robot (each
    robot's pushes go one after another in a lane of their own). A slow robot holds one
    thread while it answers; the others keep sending. More threads help only while they
    wait on the network: on a loopback platform they contend for the interpreter, and
    1,000 pushes drained later with 16 than with 8."""

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> OutboxSettings:
        if self.lease_seconds < 2 * self.request_timeout_s:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must be at least twice "
                f"request_timeout_s ({self.request_timeout_s:g}), so that a push is never "
                "claimed again while its request may still complete"
            )
        return self

    @field_validator("grace")
    @classmethod
    def _grace(cls, value: str) -> str:
        parse_offset(value)
        return value

    @property
    def grace_delta(self) -> timedelta:
        """``grace`` as a duration (``"6h"`` → 6 hours)."""
        return parse_offset(self.grace)


class CalendarSettings(FrozenModel):
    """``[calendar]``: the year's 放假安排, over chinesecalendar's data for any year.

    ``holidays`` are days off, ``workdays`` 调休 make-up working days (usually weekends). Each
    entry is a date (``"2027-01-01"``) or an inclusive range (``"2027-02-06..2027-02-13"``).
    """

    holidays: DateList = ()
    workdays: DateList = ()
    vacations: DateList = ()
    """寒假/暑假 as ranges: no period of a repeating deadline is due inside one."""

    @field_validator("holidays", "workdays", "vacations")
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

    def vacation_days(self) -> frozenset[date]:
        """Every day of the configured vacations."""
        return parse_days(self.vacations)
