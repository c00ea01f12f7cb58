"""What the emulated platforms remember: registries, tokens, rate windows, faults, the log.

``EmulatorState`` is shared by the HTTP app (``bot.devtools.emulator.app``) and the tests that drive
it. Every method takes the lock, so a test thread may read or tweak the state while the
server thread answers requests. Time comes from the injected ``Clock``: tests move a
``FakeClock`` to cross a rate window or a token expiry instead of sleeping.

The rules kept here are the ones that need memory (rate limits, blocks, de-duplication,
token lifetimes); the per-message checks that need none live in ``bot.devtools.emulator.rules``.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from bot.clock import Clock
from bot.config import Settings

Platform = Literal["wecom", "dingtalk"]
TokenState = Literal["ok", "unknown", "expired"]
SessionState = Literal["open", "expired", "unknown"]

RATE_WINDOW = timedelta(seconds=60)
WECOM_WEBHOOK_PER_WINDOW = 20
"""WeCom group robot: 20 messages per minute per key, then errcode 45009."""
DINGTALK_ROBOT_PER_WINDOW = 20
"""DingTalk custom robot: 20 messages per minute per token, then 410100 and a block."""
DINGTALK_BLOCK = timedelta(minutes=10)
WECOM_APP_PER_MEMBER_PER_WINDOW = 30
"""WeCom app: 30 messages per minute to one member; the excess is dropped silently."""
TOKEN_LIFETIME = timedelta(seconds=7200)
MEDIA_LIFETIME = timedelta(days=3)
TOKEN_APIS = frozenset({"gettoken", "oauth2/accessToken"})
"""Token fetches are logged as attempts but are not messages."""
DOWNLOAD_APIS = frozenset({"media/get", "messageFiles/download", "robot-file", "dingtalk-file"})
"""Inbound media downloads are logged as attempts but are not messages either."""
ROBOT_FILE_LIFETIME = timedelta(minutes=5)
"""WeCom intelligent robot: the file url in a message is valid for five minutes."""


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
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
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
class _Fault:
    api: str
    action: FaultAction
    times: int | None
    until: datetime | None


@dataclass(frozen=True)
class WeComApp:
    corp_id: str
    secret: str
    agent_id: str


@dataclass(frozen=True)
class DingTalkApp:
    app_key: str
    app_secret: str
    robot_code: str


@dataclass(frozen=True)
class _Token:
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


class EmulatorState:
    """Everything the emulated WeCom and DingTalk servers know and have received."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        """Held by the app around each check-then-record sequence; re-entrant."""
        self._records: list[Recorded] = []
        self._down = False
        self._faults: list[_Fault] = []
        # registries
        self._webhooks: set[str] = set()
        self._robots: dict[str, str] = {}  # access_token -> secret ("" = no signing)
        self._wecom_apps: list[WeComApp] = []
        self._dingtalk_apps: list[DingTalkApp] = []
        self._sessions: dict[str, datetime] = {}
        # tokens
        self._tokens: dict[str, _Token] = {}
        self._current_token: dict[WeComApp | DingTalkApp, _Token] = {}
        # memory that rules need
        self._uploads: dict[str, Upload] = {}
        self._webhook_window: dict[str, deque[datetime]] = {}
        self._robot_window: dict[str, deque[datetime]] = {}
        self._robot_blocked_until: dict[str, datetime] = {}
        self._member_window: dict[str, deque[datetime]] = {}
        self._msg_uuids: set[tuple[str, str]] = set()
        self._app_sent: dict[str, datetime] = {}
        # inbound media (files users send), by each platform's reference
        self._robot_aes_key = ""
        self._media: list[InboundMedia] = []
        self._dingtalk_downloads: dict[str, InboundMedia] = {}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> EmulatorState:
        """A state that knows every configured group robot and both apps."""
        state = cls(clock)
        state.register(settings)
        return state

    def register(self, settings: Settings) -> None:
        """Learn every configured group robot and both apps (for a server already running,
        whose URL the settings needed first)."""
        state = self
        for group in settings.groups:
            if not group.webhook:
                continue
            if group.platform == "wecom":
                key = webhook_key(group.webhook)
                if key:
                    state.add_wecom_webhook(key)
            else:
                token = robot_access_token(group.webhook)
                if token:
                    state.add_dingtalk_robot(token, group.secret)
        wecom = settings.wecom
        if wecom.corp_id and wecom.secret:
            state.wecom_app(wecom.corp_id, wecom.secret, wecom.agent_id)
        if wecom.robot_encoding_aes_key:
            state.wecom_robot_key(wecom.robot_encoding_aes_key)
        dingtalk = settings.dingtalk
        if dingtalk.app_key and dingtalk.app_secret:
            state.dingtalk_app(dingtalk.app_key, dingtalk.app_secret, dingtalk.robot_code or None)

    # --- the log --------------------------------------------------------------------------

    def record(
        self, platform: Platform, api: str, target: str, body: dict[str, Any], status: str
    ) -> Recorded:
        """Append one call to the log, stamped by the clock."""
        with self.lock:
            entry = Recorded(platform, api, target, body, self.clock.now(), status)
            self._records.append(entry)
            return entry

    def messages(
        self, platform: Platform | None = None, api: str | None = None, target: str | None = None
    ) -> list[Recorded]:
        """Delivered messages (status ``"ok"``) in arrival order; token fetches and media
        downloads excluded."""
        return [
            r
            for r in self.attempts(platform, api, target)
            if r.status == "ok" and r.api not in TOKEN_APIS and r.api not in DOWNLOAD_APIS
        ]

    def attempts(
        self, platform: Platform | None = None, api: str | None = None, target: str | None = None
    ) -> list[Recorded]:
        """Every call answered, refused ones included, in arrival order."""
        with self.lock:
            return [
                r
                for r in self._records
                if (platform is None or r.platform == platform)
                and (api is None or r.api == api)
                and (target is None or r.target == target)
            ]

    def reset(self) -> None:
        """Forget the log, uploads and inbound media, rate windows, blocks, de-duplication,
        faults and outage.

        Registries, sessions and issued tokens stay: they are configuration, not traffic.
        """
        with self.lock:
            self._records.clear()
            self._uploads.clear()
            self._media.clear()
            self._dingtalk_downloads.clear()
            self._webhook_window.clear()
            self._robot_window.clear()
            self._robot_blocked_until.clear()
            self._member_window.clear()
            self._msg_uuids.clear()
            self._app_sent.clear()
            self._faults.clear()
            self._down = False

    # --- registries -----------------------------------------------------------------------

    def add_wecom_webhook(self, key: str) -> None:
        """Create a WeCom group robot reachable at ``webhook/send?key=KEY``."""
        with self.lock:
            self._webhooks.add(key)

    def wecom_webhook_known(self, key: str) -> bool:
        with self.lock:
            return key in self._webhooks

    def add_dingtalk_robot(self, access_token: str, secret: str = "") -> None:
        """Create a DingTalk custom robot; with a ``secret`` every call must be signed."""
        with self.lock:
            self._robots[access_token] = secret

    def dingtalk_robot_secret(self, access_token: str) -> str | None:
        """The robot's signing secret (``""`` if unsigned), or ``None`` for an unknown token."""
        with self.lock:
            return self._robots.get(access_token)

    def wecom_app(self, corp_id: str, secret: str, agent_id: str) -> WeComApp:
        """Register a WeCom self-built app (one corp may have several, one secret each)."""
        app = WeComApp(corp_id, secret, str(agent_id))
        with self.lock:
            if app not in self._wecom_apps:
                self._wecom_apps.append(app)
        return app

    def dingtalk_app(
        self, app_key: str, app_secret: str, robot_code: str | None = None
    ) -> DingTalkApp:
        """Register a DingTalk internal app; its robot code defaults to the app key."""
        app = DingTalkApp(app_key, app_secret, robot_code or app_key)
        with self.lock:
            if app not in self._dingtalk_apps:
                self._dingtalk_apps.append(app)
        return app

    def open_session(self, session_id: str, expires_at: datetime) -> str:
        """Open a DingTalk ``sessionWebhook``; returns its path (append it to the base URL)."""
        with self.lock:
            self._sessions[session_id] = expires_at
        return f"/session/{session_id}"

    def session_state(self, session_id: str) -> SessionState:
        with self.lock:
            expires_at = self._sessions.get(session_id)
            if expires_at is None:
                return "unknown"
            return "open" if self.clock.now() < expires_at else "expired"

    # --- tokens ---------------------------------------------------------------------------

    def issue_wecom_token(self, corp_id: str, secret: str) -> tuple[int, str, int]:
        """``(errcode, access_token, expires_in)``: 40013 unknown corp, 40001 bad secret.

        Like WeCom, a fetch while the token is valid returns the same token.
        """
        with self.lock:
            apps = [a for a in self._wecom_apps if a.corp_id == corp_id]
            if not apps:
                return 40013, "", 0
            app = next((a for a in apps if a.secret == secret), None)
            if app is None:
                return 40001, "", 0
            token = self._issue(app)
            return 0, token.value, self._seconds_left(token)

    def check_wecom_token(self, access_token: str) -> tuple[TokenState, WeComApp | None]:
        with self.lock:
            token = self._tokens.get(access_token)
            if token is None or not isinstance(token.owner, WeComApp):
                return "unknown", None
            if self.clock.now() >= token.expires_at:
                return "expired", None
            return "ok", token.owner

    def issue_dingtalk_token(self, app_key: str, app_secret: str) -> tuple[str, int] | None:
        """``(accessToken, expireIn)``, or ``None`` for a bad key or secret."""
        with self.lock:
            app = next(
                (
                    a
                    for a in self._dingtalk_apps
                    if a.app_key == app_key and a.app_secret == app_secret
                ),
                None,
            )
            if app is None:
                return None
            token = self._issue(app)
            return token.value, self._seconds_left(token)

    def check_dingtalk_token(self, access_token: str) -> DingTalkApp | None:
        """The app owning a valid token; ``None`` if unknown or expired."""
        with self.lock:
            token = self._tokens.get(access_token)
            if token is None or not isinstance(token.owner, DingTalkApp):
                return None
            if self.clock.now() >= token.expires_at:
                return None
            return token.owner

    def _issue(self, owner: WeComApp | DingTalkApp) -> _Token:
        now = self.clock.now()
        current = self._current_token.get(owner)
        if current is not None and now < current.expires_at:
            return current
        token = _Token(secrets.token_urlsafe(24), owner, now + TOKEN_LIFETIME)
        self._tokens[token.value] = token
        self._current_token[owner] = token
        return token

    def _seconds_left(self, token: _Token) -> int:
        return max(0, int((token.expires_at - self.clock.now()).total_seconds()))

    # --- uploads --------------------------------------------------------------------------

    def store_upload(
        self, platform: Platform, owner: str, media_type: str, filename: str, content: bytes
    ) -> Upload:
        with self.lock:
            upload = Upload(
                media_id=secrets.token_hex(24),
                platform=platform,
                owner=owner,
                type=media_type,
                filename=filename,
                content=content,
                at=self.clock.now(),
            )
            self._uploads[upload.media_id] = upload
            return upload

    def upload(self, media_id: str) -> Upload | None:
        """The upload behind ``media_id`` (kept even after it expires, for assertions)."""
        with self.lock:
            return self._uploads.get(media_id)

    def uploads(self) -> list[Upload]:
        with self.lock:
            return list(self._uploads.values())

    def media_usable(self, media_id: str, owner: str) -> bool:
        """Whether ``owner`` may send ``media_id`` now: its own and younger than 3 days."""
        with self.lock:
            upload = self._uploads.get(media_id)
            return (
                upload is not None
                and upload.owner == owner
                and self.clock.now() < upload.at + MEDIA_LIFETIME
            )

    # --- inbound media (files users send to the bot) --------------------------------------

    def wecom_robot_key(self, encoding_aes_key: str) -> None:
        """The intelligent robot's EncodingAESKey, which encrypts the files its urls serve."""
        with self.lock:
            self._robot_aes_key = encoding_aes_key

    @property
    def robot_aes_key(self) -> str:
        with self.lock:
            return self._robot_aes_key

    def add_media(
        self, content: bytes, filename: str = "", *, chunked: bool = False
    ) -> InboundMedia:
        """Make ``content`` a file some user sent; use its ``media_id`` in a WeCom app
        message, its ``robot_url(base)`` in a robot message, its ``download_code`` on DingTalk.
        """
        with self.lock:
            media = InboundMedia(
                media_id=secrets.token_urlsafe(32),
                download_code=secrets.token_urlsafe(48),
                robot_token=secrets.token_urlsafe(24),
                filename=filename,
                content=content,
                at=self.clock.now(),
                chunked=chunked,
            )
            self._media.append(media)
            return media

    def wecom_media(self, media_id: str) -> InboundMedia | None:
        """The media behind a MediaId, while WeCom keeps it (3 days)."""
        with self.lock:
            media = next((m for m in self._media if m.media_id == media_id), None)
            if media is None or self.clock.now() >= media.at + MEDIA_LIFETIME:
                return None
            return media

    def robot_file(self, robot_token: str) -> InboundMedia | None:
        """The media behind a robot file url, while the url is valid (5 minutes)."""
        with self.lock:
            media = next((m for m in self._media if m.robot_token == robot_token), None)
            if media is None or self.clock.now() >= media.at + ROBOT_FILE_LIFETIME:
                return None
            return media

    def dingtalk_media(self, download_code: str) -> InboundMedia | None:
        with self.lock:
            return next((m for m in self._media if m.download_code == download_code), None)

    def issue_dingtalk_download(self, media: InboundMedia) -> str:
        """A fresh ``downloadUrl`` path for ``media`` (append it to the base URL)."""
        with self.lock:
            token = secrets.token_urlsafe(24)
            self._dingtalk_downloads[token] = media
            return f"/dingtalk-files/{token}"

    def dingtalk_download(self, token: str) -> InboundMedia | None:
        with self.lock:
            return self._dingtalk_downloads.get(token)

    # --- rate limits and de-duplication ---------------------------------------------------

    def take_wecom_webhook_slot(self, key: str) -> bool:
        """Count one message for the key; ``False`` (45009) when 20 went in the last 60 s."""
        with self.lock:
            window = self._webhook_window.setdefault(key, deque())
            return self._take(window, WECOM_WEBHOOK_PER_WINDOW)

    def dingtalk_robot_blocked(self, access_token: str) -> bool:
        """Whether the robot is serving its 10-minute block for going over the limit."""
        with self.lock:
            until = self._robot_blocked_until.get(access_token)
            return until is not None and self.clock.now() < until

    def take_dingtalk_robot_slot(self, access_token: str) -> bool:
        """Count one message; over 20 in 60 s it is refused and the robot blocked 10 minutes."""
        with self.lock:
            if self.dingtalk_robot_blocked(access_token):
                return False
            window = self._robot_window.setdefault(access_token, deque())
            if self._take(window, DINGTALK_ROBOT_PER_WINDOW):
                return True
            self._robot_blocked_until[access_token] = self.clock.now() + DINGTALK_BLOCK
            return False

    def take_wecom_member_slots(self, members: list[str]) -> tuple[list[str], list[str]]:
        """``(delivered, dropped)``: members who already got 30 in the last 60 s are dropped."""
        with self.lock:
            delivered: list[str] = []
            dropped: list[str] = []
            for member in members:
                window = self._member_window.setdefault(member, deque())
                if self._take(window, WECOM_APP_PER_MEMBER_PER_WINDOW):
                    delivered.append(member)
                else:
                    dropped.append(member)
            return delivered, dropped

    def _take(self, window: deque[datetime], limit: int) -> bool:
        now = self.clock.now()
        while window and window[0] <= now - RATE_WINDOW:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def msg_uuid_seen(self, access_token: str, msg_uuid: str) -> bool:
        with self.lock:
            return (access_token, msg_uuid) in self._msg_uuids

    def remember_msg_uuid(self, access_token: str, msg_uuid: str) -> None:
        with self.lock:
            self._msg_uuids.add((access_token, msg_uuid))

    def wecom_app_duplicate(self, fingerprint: str, interval: timedelta) -> bool:
        """Whether the same app message was delivered less than ``interval`` ago."""
        with self.lock:
            sent = self._app_sent.get(fingerprint)
            return sent is not None and self.clock.now() - sent < interval

    def remember_wecom_app_message(self, fingerprint: str) -> None:
        with self.lock:
            self._app_sent[fingerprint] = self.clock.now()

    # --- faults ---------------------------------------------------------------------------

    def fault(
        self,
        api: str,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay_s: float = 0.0,
        times: int | None = None,
        until: datetime | None = None,
    ) -> None:
        """Make calls to ``api`` fail: the next ``times`` calls, or every call until ``until``.

        With neither bound the fault lasts until ``clear_faults()``. ``errcode`` answers
        HTTP 200 with that errcode; ``http_status`` answers that status; ``delay_s`` (real
        seconds) delays the answer, which is otherwise normal unless a code is also given.
        """
        if errcode is not None and http_status is not None:
            raise ValueError("give errcode or http_status, not both")
        if errcode is None and http_status is None and delay_s <= 0:
            raise ValueError("a fault needs an errcode, an http_status or a delay")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        with self.lock:
            self._faults.append(
                _Fault(api, FaultAction(errcode, http_status, delay_s), times, until)
            )

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_fault(self, api: str) -> FaultAction | None:
        """The fault that applies to this call of ``api``, consuming one of its ``times``."""
        with self.lock:
            now = self.clock.now()
            live: list[_Fault] = []
            chosen: FaultAction | None = None
            for fault in self._faults:
                if fault.until is not None and now >= fault.until:
                    continue
                if chosen is None and fault.api == api:
                    chosen = fault.action
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            continue
                live.append(fault)
            self._faults = live
            return chosen

    def down(self, on: bool = True) -> None:
        """Simulate an outage: while on, every platform endpoint answers HTTP 503."""
        with self.lock:
            self._down = on

    @property
    def is_down(self) -> bool:
        with self.lock:
            return self._down
