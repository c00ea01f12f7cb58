"""The emulator's memory that both platforms share.

``StateCore`` holds the clock, the lock, the log of every call, injected faults and the
outage switch, issued access tokens, the rolling rate windows and the files users sent.
``WeComState`` and ``DingTalkState`` add each platform's registries and rules on top of it,
and ``EmulatorState`` joins the two. Every method takes the lock, so a test thread may read
or tweak the state while the server thread answers requests.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.devtools.emulator.records import (
    DingTalkApp,
    Fault,
    FaultAction,
    InboundMedia,
    Platform,
    Recorded,
    Token,
    WeComApp,
)

RATE_WINDOW = timedelta(seconds=60)
TOKEN_LIFETIME = timedelta(seconds=7200)
TOKEN_APIS = frozenset({"gettoken", "oauth2/accessToken"})
"""Token fetches are logged as attempts but are not messages."""
DOWNLOAD_APIS = frozenset({"media/get", "messageFiles/download", "robot-file", "dingtalk-file"})
"""Inbound media downloads are logged as attempts but are not messages either."""


class StateCore:
    """The clock, the lock, the log, faults and outage, tokens, rate windows, inbound media."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        """Held by the app around each check-then-record sequence; re-entrant."""
        self._records: list[Recorded] = []
        self._down = False
        self._faults: list[Fault] = []
        self._tokens: dict[str, Token] = {}
        self._current_token: dict[WeComApp | DingTalkApp, Token] = {}
        self._media: list[InboundMedia] = []  # files users send, found by each platform's ref

    def reset(self) -> None:
        """Forget the log, inbound media, faults and outage (tokens stay)."""
        with self.lock:
            self._records.clear()
            self._media.clear()
            self._faults.clear()
            self._down = False

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

    # --- tokens ---------------------------------------------------------------------------

    def _issue(self, owner: WeComApp | DingTalkApp) -> Token:
        now = self.clock.now()
        current = self._current_token.get(owner)
        if current is not None and now < current.expires_at:
            return current
        token = Token(secrets.token_urlsafe(24), owner, now + TOKEN_LIFETIME)
        self._tokens[token.value] = token
        self._current_token[owner] = token
        return token

    def _seconds_left(self, token: Token) -> int:
        return max(0, int((token.expires_at - self.clock.now()).total_seconds()))

    # --- rate windows ---------------------------------------------------------------------

    def _take(self, window: deque[datetime], limit: int) -> bool:
        now = self.clock.now()
        while window and window[0] <= now - RATE_WINDOW:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    # --- inbound media (files users send to the bot) --------------------------------------

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
                Fault(api, FaultAction(errcode, http_status, delay_s), times, until)
            )

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self.lock:
            self._faults.clear()

    def take_fault(self, api: str) -> FaultAction | None:
        """The fault that applies to this call of ``api``, consuming one of its ``times``."""
        with self.lock:
            now = self.clock.now()
            live: list[Fault] = []
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
        """Whether the emulated outage is on."""
        with self.lock:
            return self._down
