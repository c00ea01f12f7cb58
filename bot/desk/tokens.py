"""Signed links and session cookies for the web desk, with itsdangerous (what Starlette's
own sessions use) rather than hand-made HMAC parsing.

- login link ``/desk/login?t=…``: the login row's nonce, signed with a timestamp; refused
  after ``[desk] link_minutes`` (and the row is used once: ``storage.desk.use_login``);
- projector link ``/desk/b/…``: a board-link row's nonce, signed; works until revoked;
- session cookie: the login nonce, signed with a timestamp; refused after
  ``[desk] session_hours``;
- CSRF token: a signature of the session's nonce with a salt of its own, so a page of
  another site cannot forge a form post even though the browser sends the cookie.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, Signer, URLSafeSerializer, URLSafeTimedSerializer

from bot.config import WILDCARD_HOSTS, Settings

COOKIE = "edubot_desk"


class _Clocked(URLSafeTimedSerializer):
    """A timed serializer whose ``now`` is the service's clock, not the wall clock."""

    def __init__(self, secret: str, salt: str, now: datetime | None) -> None:
        super().__init__(secret, salt=salt)
        self._now = now

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        signer = super().make_signer(salt)
        if self._now is not None:
            stamp = int(self._now.timestamp())
            signer.get_timestamp = lambda: stamp  # type: ignore[attr-defined]
        return signer


@dataclass(frozen=True)
class DeskTokens:
    """Makes and checks the desk's links and cookies with ``[server] link_secret``."""

    secret: str
    base_url: str
    link_minutes: int
    session_hours: int

    @classmethod
    def of(cls, settings: Settings) -> DeskTokens | None:
        """The desk's signer; None when no ``link_secret`` is configured (desk off)."""
        if not settings.server.link_secret:
            return None
        base = settings.desk.url or settings.server.public_url
        if not base:
            host = settings.server.host
            host = "127.0.0.1" if host in WILDCARD_HOSTS else host
            base = f"http://{host}:{settings.server.port}"
        return cls(
            settings.server.link_secret,
            base.rstrip("/"),
            settings.desk.link_minutes,
            settings.desk.session_hours,
        )

    # --- links ---------------------------------------------------------------------

    def login_url(self, nonce: str, now: datetime) -> str:
        """The one-time login link for login row ``nonce`` (signed at ``now``)."""
        token = _Clocked(self.secret, "desk-login", now).dumps(nonce)
        return f"{self.base_url}/desk/login?t={token}"

    def login_nonce(self, token: str, now: datetime) -> str | None:
        """The nonce of a login link still within ``link_minutes``; None if tampered or old."""
        return self._timed(token, "desk-login", now, self.link_minutes * 60)

    def board_url(self, nonce: str) -> str:
        """The projector link for board-link row ``nonce``."""
        return f"{self.base_url}/desk/b/{self.board_token(nonce)}"

    def board_token(self, nonce: str) -> str:
        """The signed path part of a projector link."""
        return str(URLSafeSerializer(self.secret, salt="desk-board").dumps(nonce))

    def board_nonce(self, token: str) -> str | None:
        """The nonce of a projector link; None if tampered."""
        try:
            value = URLSafeSerializer(self.secret, salt="desk-board").loads(token)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    # --- sessions ------------------------------------------------------------------

    def session_cookie(self, nonce: str, now: datetime) -> str:
        """The cookie value of a session opened at ``now`` by login row ``nonce``."""
        return str(_Clocked(self.secret, "desk-session", now).dumps(nonce))

    def session_nonce(self, cookie: str, now: datetime) -> str | None:
        """The login nonce of a session cookie within ``session_hours``; None otherwise."""
        return self._timed(cookie, "desk-session", now, self.session_hours * 3600)

    def csrf_token(self, nonce: str) -> str:
        """The token every form of this session carries."""
        return Signer(self.secret, salt="desk-csrf").get_signature(nonce).decode()

    def csrf_ok(self, nonce: str, token: str) -> bool:
        """Whether ``token`` is this session's CSRF token (constant-time comparison)."""
        return hmac.compare_digest(self.csrf_token(nonce), token)

    def _timed(self, token: str, salt: str, now: datetime, max_age: int) -> str | None:
        serializer = _Clocked(self.secret, salt, now)
        try:
            value = serializer.loads(token, max_age=max_age)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        return value if isinstance(value, str) else None
