"""What the emulated DingTalk remembers: custom robots, apps, sessions, downloads, limits.

``DingTalkState`` is one half of ``EmulatorState``; the rules kept here are DingTalk's that
need memory (a custom robot's 20 messages a minute and 10-minute block, ``msgUuid``
de-duplication, session webhook expiry, token lifetimes). Checks that need none are in
``rules``.
"""

from __future__ import annotations

import secrets
from collections import deque
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.devtools.emulator.records import DingTalkApp, InboundMedia, SessionState
from bot.devtools.emulator.state_core import StateCore

DINGTALK_ROBOT_PER_WINDOW = 20
"""DingTalk custom robot: 20 messages per minute per token, then 410100 and a block."""
DINGTALK_BLOCK = timedelta(minutes=10)


class DingTalkState(StateCore):
    """The DingTalk side of the emulator's memory."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self._robots: dict[str, str] = {}  # access_token -> secret ("" = no signing)
        self._dingtalk_apps: list[DingTalkApp] = []
        self._sessions: dict[str, datetime] = {}
        self._robot_window: dict[str, deque[datetime]] = {}
        self._robot_blocked_until: dict[str, datetime] = {}
        self._msg_uuids: set[tuple[str, str]] = set()
        self._dingtalk_downloads: dict[str, InboundMedia] = {}

    def reset(self) -> None:
        """Also forget download urls, rate windows, blocks and ``msgUuid``s (registries,
        sessions stay)."""
        with self.lock:
            super().reset()
            self._dingtalk_downloads.clear()
            self._robot_window.clear()
            self._robot_blocked_until.clear()
            self._msg_uuids.clear()

    # --- registries -----------------------------------------------------------------------

    def add_dingtalk_robot(self, access_token: str, secret: str = "") -> None:
        """Create a DingTalk custom robot; with a ``secret`` every call must be signed."""
        with self.lock:
            self._robots[access_token] = secret

    def dingtalk_robot_secret(self, access_token: str) -> str | None:
        """The robot's signing secret (``""`` if unsigned), or ``None`` for an unknown token."""
        with self.lock:
            return self._robots.get(access_token)

    def dingtalk_app(
        self, app_key: str, app_secret: str, robot_code: str | None = None
    ) -> DingTalkApp:
        """Register a DingTalk internal app; its robot code defaults to the app key."""
        app = DingTalkApp(app_key, app_secret, robot_code or app_key)
        with self.lock:
            if app not in self._dingtalk_apps:
                self._dingtalk_apps.append(app)
        return app

    def dingtalk_app_by_secret(self, app_key: str, app_secret: str) -> DingTalkApp | None:
        """The registered app with this key and secret (Stream mode's login), or ``None``."""
        with self.lock:
            return next(
                (
                    a
                    for a in self._dingtalk_apps
                    if (a.app_key, a.app_secret) == (app_key, app_secret)
                ),
                None,
            )

    def open_session(self, session_id: str, expires_at: datetime) -> str:
        """Open a DingTalk ``sessionWebhook``; returns its path (append it to the base URL)."""
        with self.lock:
            self._sessions[session_id] = expires_at
        return f"/session/{session_id}"

    def session_state(self, session_id: str) -> SessionState:
        """Whether the session webhook is open, expired (by the clock) or was never opened."""
        with self.lock:
            expires_at = self._sessions.get(session_id)
            if expires_at is None:
                return "unknown"
            return "open" if self.clock.now() < expires_at else "expired"

    # --- tokens ---------------------------------------------------------------------------

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

    # --- files users send to the bot ------------------------------------------------------

    def dingtalk_media(self, download_code: str) -> InboundMedia | None:
        """The media behind a ``downloadCode`` (DingTalk keeps it as long as the emulator does)."""
        with self.lock:
            return next((m for m in self._media if m.download_code == download_code), None)

    def issue_dingtalk_download(self, media: InboundMedia) -> str:
        """A fresh ``downloadUrl`` path for ``media`` (append it to the base URL)."""
        with self.lock:
            token = secrets.token_urlsafe(24)
            self._dingtalk_downloads[token] = media
            return f"/dingtalk-files/{token}"

    def dingtalk_download(self, token: str) -> InboundMedia | None:
        """The media behind a ``downloadUrl`` token issued by ``issue_dingtalk_download``."""
        with self.lock:
            return self._dingtalk_downloads.get(token)

    # --- rate limits and de-duplication ---------------------------------------------------

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

    def msg_uuid_seen(self, access_token: str, msg_uuid: str) -> bool:
        """Whether the robot already delivered a message with this ``msgUuid``."""
        with self.lock:
            return (access_token, msg_uuid) in self._msg_uuids

    def remember_msg_uuid(self, access_token: str, msg_uuid: str) -> None:
        """Note a delivered ``msgUuid``, so a repeat is answered ok and not delivered again."""
        with self.lock:
            self._msg_uuids.add((access_token, msg_uuid))
