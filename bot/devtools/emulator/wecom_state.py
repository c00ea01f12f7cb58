"""What the emulated WeCom remembers: group robots, apps, uploads, files users sent, limits.

``WeComState`` is one half of ``EmulatorState``; the rules kept here are WeCom's that need
memory (the group robot's 20 messages a minute, the app's 30 a minute per member, duplicate
checks, token and media lifetimes). Checks that need none are in ``rules``.
"""

from __future__ import annotations

import base64
import secrets
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.devtools.emulator.records import InboundMedia, Platform, TokenState, Upload, WeComApp
from bot.devtools.emulator.state_core import StateCore

WECOM_WEBHOOK_PER_WINDOW = 20
"""WeCom group robot: 20 messages per minute per key, then errcode 45009."""
WECOM_APP_PER_MEMBER_PER_WINDOW = 30
"""WeCom app: 30 messages per minute to one member; the excess is dropped silently."""
AIBOT_PUSH_PER_MINUTE = 30
AIBOT_PUSH_PER_HOUR = 1000
"""WeCom robot long connection, aibot_send_msg: 30 a minute and 1,000 an hour per robot."""
AIBOT_PUSH_TYPES = frozenset({"markdown", "template_card"})
AIBOT_NOT_HEARD = 846609
"""The emulator's code for a push to a chat that never wrote to the robot."""
MEDIA_LIFETIME = timedelta(days=3)
ROBOT_FILE_LIFETIME = timedelta(minutes=5)
"""WeCom intelligent robot: the file url in a message is valid for five minutes."""


class WeComState(StateCore):
    """The WeCom side of the emulator's memory."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self._webhooks: set[str] = set()
        self._wecom_apps: list[WeComApp] = []
        self._uploads: dict[str, Upload] = {}
        self._webhook_window: dict[str, deque[datetime]] = {}
        self._member_window: dict[str, deque[datetime]] = {}
        self._app_sent: dict[str, datetime] = {}
        self._robot_aes_key = ""
        self._link_keys: dict[str, str] = {}
        self._robot_heard: set[tuple[str, str]] = set()
        self._robot_minute: dict[str, deque[datetime]] = {}
        self._robot_hour: dict[str, deque[datetime]] = {}

    def reset(self) -> None:
        """Also forget uploads, rate windows and de-duplication (registries stay)."""
        with self.lock:
            super().reset()
            self._uploads.clear()
            self._webhook_window.clear()
            self._member_window.clear()
            self._app_sent.clear()
            self._robot_minute.clear()
            self._robot_hour.clear()

    # --- registries -----------------------------------------------------------------------

    def add_wecom_webhook(self, key: str) -> None:
        """Create a WeCom group robot reachable at ``webhook/send?key=KEY``."""
        with self.lock:
            self._webhooks.add(key)

    def wecom_webhook_known(self, key: str) -> bool:
        """Whether a group robot with this key exists."""
        with self.lock:
            return key in self._webhooks

    def wecom_app(self, corp_id: str, secret: str, agent_id: str) -> WeComApp:
        """Register a WeCom self-built app (one corp may have several, one secret each)."""
        app = WeComApp(corp_id, secret, str(agent_id))
        with self.lock:
            if app not in self._wecom_apps:
                self._wecom_apps.append(app)
        return app

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
        """``(state, app)``: the app owning a valid token, else ``unknown`` or ``expired``."""
        with self.lock:
            token = self._tokens.get(access_token)
            if token is None or not isinstance(token.owner, WeComApp):
                return "unknown", None
            if self.clock.now() >= token.expires_at:
                return "expired", None
            return "ok", token.owner

    # --- uploads --------------------------------------------------------------------------

    def store_upload(
        self, platform: Platform, owner: str, media_type: str, filename: str, content: bytes
    ) -> Upload:
        """Keep an uploaded file and give it a fresh ``media_id``."""
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
        """Every upload so far, in upload order."""
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

    # --- files users send to the bot ------------------------------------------------------

    def wecom_robot_key(self, encoding_aes_key: str) -> None:
        """The intelligent robot's EncodingAESKey, which encrypts the files its urls serve."""
        with self.lock:
            self._robot_aes_key = encoding_aes_key

    @property
    def robot_aes_key(self) -> str:
        """The intelligent robot's EncodingAESKey (``""`` until registered)."""
        with self.lock:
            return self._robot_aes_key

    def longconn_link_key(self, media: InboundMedia) -> str:
        """The ``aeskey`` a long-connection message carries for ``media``'s url: over the
        long connection each link is encrypted with a key of its own (base64, 32 bytes)."""
        with self.lock:
            key = self._link_keys.setdefault(
                media.robot_token, base64.b64encode(secrets.token_bytes(32)).decode("ascii")
            )
            return key

    def robot_file_key(self, robot_token: str) -> str:
        """The key a robot file url is served with: its link's own, else the robot's."""
        with self.lock:
            return self._link_keys.get(robot_token, self._robot_aes_key)

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

    # --- rate limits and de-duplication ---------------------------------------------------

    def take_wecom_webhook_slot(self, key: str) -> bool:
        """Count one message for the key; ``False`` (45009) when 20 went in the last 60 s."""
        with self.lock:
            window = self._webhook_window.setdefault(key, deque())
            return self._take(window, WECOM_WEBHOOK_PER_WINDOW)

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

    def wecom_app_duplicate(self, fingerprint: str, interval: timedelta) -> bool:
        """Whether the same app message was delivered less than ``interval`` ago."""
        with self.lock:
            sent = self._app_sent.get(fingerprint)
            return sent is not None and self.clock.now() - sent < interval

    def remember_wecom_app_message(self, fingerprint: str) -> None:
        """Note a delivered app message for ``enable_duplicate_check``."""
        with self.lock:
            self._app_sent[fingerprint] = self.clock.now()

    # --- the robot's long connection: proactive pushes (aibot_send_msg) -------------------

    def robot_heard(self, bot_id: str, chat: str) -> None:
        """Someone wrote to robot ``bot_id`` in ``chat`` (a chatid, or a userid in private):
        from now on it may push there."""
        with self.lock:
            self._robot_heard.add((bot_id, chat))

    def robot_push(self, bot_id: str, body: dict[str, Any]) -> tuple[int, str]:
        """Check and log one ``aibot_send_msg``; WeCom's ``(errcode, errmsg)`` answer."""
        chat = body.get("chatid")
        kind = body.get("msgtype")
        part = body.get(kind) if isinstance(kind, str) else None
        content = part.get("content") if isinstance(part, dict) else None
        with self.lock:
            if not isinstance(chat, str) or not chat:
                answer = (40035, "invalid chatid")
            elif kind not in AIBOT_PUSH_TYPES:
                answer = (40008, "invalid message type")
            elif kind == "markdown" and (not isinstance(content, str) or not content.strip()):
                answer = (44004, "empty content")
            elif (bot_id, chat) not in self._robot_heard:
                answer = (AIBOT_NOT_HEARD, "no user has talked to the robot in this chat")
            elif not self._room_this_hour(bot_id) or not (
                self._take(self._robot_minute.setdefault(bot_id, deque()), AIBOT_PUSH_PER_MINUTE)
            ):
                answer = (45009, "api freq out of limit")
            else:
                self._robot_hour[bot_id].append(self.clock.now())
                answer = (0, "ok")
            status = "ok" if answer[0] == 0 else str(answer[0])
            self.record("wecom", "aibot_send_msg", str(chat), body, status)
        return answer

    def _room_this_hour(self, bot_id: str) -> bool:
        window = self._robot_hour.setdefault(bot_id, deque())
        now = self.clock.now()
        while window and window[0] <= now - timedelta(hours=1):
            window.popleft()
        return len(window) < AIBOT_PUSH_PER_HOUR
