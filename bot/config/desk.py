"""``[desk]``: the web desk under ``/desk/`` (campaign, venue, results board, deadlines)."""

from __future__ import annotations

from pydantic import Field

from bot.config.base import FrozenModel
from bot.config.service import ServerSettings

WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104
"""Hosts that mean "every interface": no address to put in a link."""


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


def desk_address_warning(server: ServerSettings, desk: DeskSettings, host: str) -> str:
    """The Chinese warning for desk links nobody else can open, or ``""``.

    Serving on every interface (``host``, the one ``serve`` binds) says the desk is meant for
    other PCs, but without ``[desk] url`` or ``[server] public_url`` its signed links fall
    back to 127.0.0.1 (``bot.desk.tokens``). Nothing to say when the desk is off."""
    if not server.link_secret or desk.url or server.public_url or host not in WILDCARD_HOSTS:
        return ""
    port = server.port
    return (
        f"desk.url：edubot serve 监听 {host or '所有地址'}，但 [desk] url 和 [server] public_url "
        f"都没有写，机器人私发的“后台”“看板”链接会是 http://127.0.0.1:{port}/…，"
        "在别的电脑上打不开。请在 [desk] 中写上大家能打开的地址，"
        f'例如 url = "http://10.1.2.3:{port}"（本机在办公网上的 IP 和端口）。'
    )
