"""DingTalk custom group robot (自定义机器人) and reply-by-sessionWebhook.

Both take the same JSON body and answer with an ``errcode``. The custom robot URL is signed
afresh for every request (a signature is only valid for an hour); the body carries a
``msgUuid`` derived from the outbox ``dedupe_key`` so DingTalk drops a resend after a crash.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from bot.clock import Clock
from bot.errors import PermanentDelivery
from bot.platforms.dingtalk.render import dingtalk_robot_body
from bot.platforms.dingtalk.sign import signed_robot_url
from bot.senders.base import (
    bounded_rate_key,
    check_errcode,
    check_not_empty,
    check_size,
    check_status,
    encode_json,
    errcode_of,
    json_object,
    post_json,
    secret_rate_key,
)
from bot.senders.limits import LIMITS
from handlers.messages import OutboundMessage

SESSION_EXPIRED = 300001


def robot_token(webhook: str) -> str:
    """The access_token from a full robot URL (``...send?access_token=T``) or a bare token."""
    value = webhook.strip()
    if "?" in value or "://" in value:
        tokens = parse_qs(urlsplit(value).query).get("access_token", [])
        return tokens[0].strip() if tokens else ""
    return value


def _post_robot_body(
    http: httpx.Client, where: str, url: str, message: OutboundMessage, dedupe_key: str
) -> None:
    check_not_empty(where, message)
    body = encode_json(dingtalk_robot_body(message, dedupe_key=dedupe_key))
    check_size(where, len(body), LIMITS["dingtalk"])
    response = post_json(http, where, url, body)
    check_status(where, response)
    data = json_object(where, response)
    check_errcode(where, errcode_of(data), str(data.get("errmsg", "")))


class DingTalkRobotSender:
    """Pushes to one DingTalk group through its custom robot (token + optional SEC secret)."""

    def __init__(
        self, *, http: httpx.Client, clock: Clock, oapi_base: str, webhook: str, secret: str
    ) -> None:
        self._http = http
        self._clock = clock
        self._oapi_base = oapi_base
        self._token = robot_token(webhook)
        self._secret = secret.strip()

    def rate_key(self, message: OutboundMessage) -> str:
        """One rate limit per custom robot (its access_token, hashed)."""
        return secret_rate_key("dingtalk-robot", self._token)

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Post once to the freshly signed robot URL, or raise a delivery error."""
        where = "dingtalk robot"
        if not self._token:
            raise PermanentDelivery(f"{where}: no access_token in the configured webhook")
        url = signed_robot_url(self._oapi_base, self._token, self._secret, self._clock.now())
        _post_robot_body(self._http, where, url, message, dedupe_key)


class DingTalkSessionSender:
    """Answers through the ``sessionWebhook`` of an inbound message (``message.target``).

    The URL is used as DingTalk gave it; it expires after about 90 minutes, after which
    DingTalk answers 300001 and the answer can only be dropped.
    """

    def __init__(self, *, http: httpx.Client) -> None:
        self._http = http

    def rate_key(self, message: OutboundMessage) -> str:
        """One rate limit per session, as DingTalk counts them: host, path and the query's
        ``session`` (the whole query without one). It goes in hashed: rate keys are logged,
        and the session is what lets anybody holding the URL post to the group."""
        parts = urlsplit(message.target)
        session = parse_qs(parts.query).get("session", [parts.query])[0]
        return bounded_rate_key("session", secret_rate_key(f"{parts.netloc}{parts.path}", session))

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Post once to ``message.target``, or raise a delivery error."""
        where = "dingtalk session"
        scheme = urlsplit(message.target).scheme
        if scheme not in ("http", "https"):
            raise PermanentDelivery(f"{where}: target is not a URL")
        try:
            _post_robot_body(self._http, where, message.target, message, dedupe_key)
        except PermanentDelivery as exc:
            if exc.code == SESSION_EXPIRED:
                raise PermanentDelivery(
                    f"{where}: the sessionWebhook has expired (errcode 300001)",
                    code=SESSION_EXPIRED,
                ) from exc
            raise
