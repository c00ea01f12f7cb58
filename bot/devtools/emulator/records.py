"""What the emulator keeps and answers with: log entries, files, faults, apps and tokens.

Plain frozen values (``_Fault`` aside, whose ``times`` counts down), shared by the state
modules, the HTTP routes and the tests; ``webhook_key`` and ``robot_access_token`` read the
identifying parameter out of a configured robot URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Platform = Literal["wecom", "dingtalk"]
TokenState = Literal["ok", "unknown", "expired"]
SessionState = Literal["open", "expired", "unknown"]


@dataclass(frozen=True)
class Recorded:
    """One call the emulator answered.

    ``status`` is ``"ok"`` for a delivered message, the errcode it answered as text
    (``"45009"``), ``"http_503"`` for an HTTP-level refusal, ``"dropped"`` for a WeCom app
    message over the per-member limit and ``"duplicate"`` for a de-duplicated repeat.
    """

    platform: Platform
    api: str
    target: str
    body: dict[str, Any]
    at: datetime
    status: str

    @property
    def delivered(self) -> bool:
        """Whether the call delivered a message (status ``"ok"``)."""
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
        """The entry as ``GET /_emulator/messages`` shows it."""
        return {
            "platform": self.platform,
            "api": self.api,
            "target": self.target,
            "body": self.body,
            "at": self.at.isoformat(),
            "status": self.status,
        }


@dataclass(frozen=True)
class Upload:
    """A file uploaded to WeCom; ``owner`` is the webhook key, or the corp id for app media."""

    media_id: str
    platform: Platform
    owner: str
    type: str
    filename: str
    content: bytes
    at: datetime


@dataclass(frozen=True)
class InboundMedia:
    """A file a user sent to the bot, fetchable by each platform's reference.

    ``media_id`` for the WeCom app (``media/get``), ``download_code`` for DingTalk
    (``messageFiles/download``), ``robot_path`` for the WeCom intelligent robot (append it
    to the emulator's base URL; served AES-encrypted with the robot's EncodingAESKey).
    ``chunked`` serves the bytes without a Content-Length, as some CDNs do.
    """

    media_id: str
    download_code: str
    robot_token: str
    filename: str
    content: bytes
    at: datetime
    chunked: bool = False

    @property
    def robot_path(self) -> str:
        """The path of the intelligent robot's file url for this media."""
        return f"/aibot-files/{self.robot_token}"

    def robot_url(self, base_url: str) -> str:
        """The intelligent robot message's file ``url`` on an emulator at ``base_url``."""
        return base_url.rstrip("/") + self.robot_path


@dataclass(frozen=True)
class FaultAction:
    """What an injected fault does to one call."""

    errcode: int | None = None
    http_status: int | None = None
    delay_s: float = 0.0


@dataclass
class Fault:
    """An injected fault: its ``action`` on calls to ``api``, for ``times`` calls or ``until``."""

    api: str
    action: FaultAction
    times: int | None
    until: datetime | None


@dataclass(frozen=True)
class WeComApp:
    """A WeCom self-built app: the corp, the app's secret and its agent id."""

    corp_id: str
    secret: str
    agent_id: str


@dataclass(frozen=True)
class DingTalkApp:
    """A DingTalk internal app: its key and secret, and its robot's code."""

    app_key: str
    app_secret: str
    robot_code: str


@dataclass(frozen=True)
class Token:
    """An access token issued to an app, valid until ``expires_at``."""

    value: str
    owner: WeComApp | DingTalkApp
    expires_at: datetime


def webhook_key(value: str) -> str:
    """The WeCom robot key in a webhook URL (its ``key`` parameter), or ``value`` if bare."""
    return _query_param(value, "key")


def robot_access_token(value: str) -> str:
    """The DingTalk robot token in a robot URL (``access_token``), or ``value`` if bare."""
    return _query_param(value, "access_token")


def _query_param(value: str, name: str) -> str:
    value = value.strip()
    if "?" not in value and "://" not in value:
        return value
    found = parse_qs(urlsplit(value).query).get(name)
    return found[0] if found else ""
