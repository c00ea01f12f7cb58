"""DingTalk HMAC-SHA256 signatures (钉钉 加签), inbound and outbound.

Both directions sign ``f"{timestamp_ms}\\n{secret}"`` with the secret as the HMAC key and
base64 the digest. Inbound callbacks carry it raw in the ``sign`` header; outbound custom
robot URLs carry it ``quote_plus``-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import quote_plus

from bot.errors import Forbidden
from bot.platforms.fields import epoch_number


def dingtalk_sign(secret: str, timestamp_ms: str | int) -> str:
    """base64(HmacSHA256(secret, f"{timestamp_ms}\\n{secret}"))."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_dingtalk_request(
    timestamp_ms: str,
    sign: str,
    secret: str,
    *,
    now: datetime,
    tolerance: timedelta = timedelta(hours=1),
) -> None:
    """Raise ``Forbidden`` unless ``sign`` matches and the timestamp is within ``tolerance``."""
    sent_ms = epoch_number(timestamp_ms)
    if sent_ms is None:
        raise Forbidden("dingtalk: timestamp header is not a millisecond timestamp")
    if abs(now.timestamp() * 1000 - sent_ms) > tolerance.total_seconds() * 1000:
        raise Forbidden("dingtalk: timestamp outside the accepted window")
    expected = dingtalk_sign(secret, timestamp_ms)
    if not hmac.compare_digest(expected.encode(), sign.encode("utf-8", "replace")):
        raise Forbidden("dingtalk: bad sign")


def signed_robot_url(oapi_base: str, access_token: str, secret: str, now: datetime) -> str:
    """The custom robot send URL, signed for ``now`` (signatures expire after an hour)."""
    timestamp_ms = int(now.timestamp() * 1000)
    base = f"{oapi_base.rstrip('/')}/robot/send?access_token={quote_plus(access_token)}"
    if not secret:
        return base
    return f"{base}&timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"
