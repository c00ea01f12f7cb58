"""Signed, expiring download links for exported files (成绩汇总表).

DingTalk robots cannot carry a file, so a push with a file gets a link to
``{public_url}/files/exports/{name}?exp=…&sig=…`` instead. The signature is an HMAC over the
file name and the expiry with ``[server] link_secret``; the route serves only files directly
under ``data_dir/exports``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from bot.config import ServerSettings
from bot.platforms.fields import epoch_number

EXPORTS = "exports"


def _signature(secret: str, name: str, expires: int) -> str:
    message = f"{name}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def link_maker(server: ServerSettings, now: Callable[[], datetime]) -> Callable[[str], str | None]:
    """``path → URL`` for files under ``data_dir/exports``; None when links are off."""
    exports = (Path(server.data_dir) / EXPORTS).resolve()

    def make(path: str) -> str | None:
        if not (server.link_secret and server.public_url):
            return None
        file = Path(path).resolve()
        if file.parent != exports:
            return None
        expires = int((now() + timedelta(hours=server.link_ttl_hours)).timestamp())
        signature = _signature(server.link_secret, file.name, expires)
        base = server.public_url.rstrip("/")
        return f"{base}/files/{EXPORTS}/{quote(file.name)}?exp={expires}&sig={signature}"

    return make


def verify(server: ServerSettings, name: str, expires: str, signature: str, now: datetime) -> Path:
    """The file a link points to; ``LookupError`` for anything not to be served."""
    seconds = epoch_number(expires)
    if not server.link_secret or seconds is None or not signature.isascii():
        raise LookupError("links are off or the link is malformed")
    expected = _signature(server.link_secret, name, seconds)
    if not hmac.compare_digest(expected, signature) or seconds < now.timestamp():
        raise LookupError("bad or expired signature")
    exports = (Path(server.data_dir) / EXPORTS).resolve()
    file = (exports / name).resolve()
    if file.parent != exports or not file.is_file():
        raise LookupError("no such export")
    return file
