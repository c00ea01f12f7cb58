"""One cached access token (WeCom ``gettoken``, DingTalk ``oauth2/accessToken``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.clock import Clock

TOKEN_MARGIN = timedelta(minutes=5)
"""Refresh this long before the platform's expiry, so a token never dies mid-request."""


class TokenCache:
    """A token from ``fetch() -> (token, expires_in_seconds)``, kept until ``TOKEN_MARGIN``
    before it expires. Thread-safe: concurrent callers share one fetch."""

    def __init__(self, fetch: Callable[[], tuple[str, int]], clock: Clock) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._refresh_at: datetime | None = None

    def get(self) -> str:
        """The cached token, fetched first when there is none or it is about to expire."""
        with self._lock:
            now = self._clock.now()
            if self._token and self._refresh_at is not None and now < self._refresh_at:
                return self._token
            token, expires_in = self._fetch()
            self._token = token
            self._refresh_at = now + timedelta(seconds=expires_in) - TOKEN_MARGIN
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the platform refused it); a newer one fetched meanwhile is kept."""
        with self._lock:
            if self._token == token:
                self._token, self._refresh_at = "", None
