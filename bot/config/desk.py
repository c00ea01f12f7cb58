"""``[desk]``: the web desk under ``/desk/`` (campaign, venue, results board, deadlines)."""

from __future__ import annotations

from pydantic import Field

from bot.config.base import FrozenModel


class DeskSettings(FrozenModel):
    """``[desk]``: how desk links are made and how long they and sessions last.

    Links and session cookies are signed with ``[server] link_secret``; without it the desk
    is off and ``后台`` / ``看板`` say so.
    """

    url: str = ""
    """Where people open the desk, e.g. http://10.1.2.3:8080 on the office network. Empty:
    ``[server] public_url``, else ``http://{host}:{port}``."""
    link_minutes: int = Field(default=10, gt=0, le=24 * 60)
    """A one-time login link (``后台``) must be opened within this."""
    session_hours: int = Field(default=8, gt=0, le=24 * 30)
    """A desk session ends this long after the login, or when the person leaves the config."""
    board_poll_s: float = Field(default=2.0, gt=0, le=60)
    """How often an open results board asks for changes."""
