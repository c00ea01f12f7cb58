"""The WeCom callbacks behind ``bot.platforms.inbound.Callback``: the app and the robot.

Both are signed in the query (``msg_signature``, ``timestamp``, ``nonce``) over an
encrypted value, and both answer a GET with the decrypted ``echostr`` (WeCom's URL check).
``verify`` can only see that the query is complete (403 before reading a body); the
signature, the timestamp window and the receive id are checked in ``parse``, once the
``Encrypt`` value is out of the body. The passive reply is encrypted for the same endpoint.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.config import WeComSettings
from bot.errors import Forbidden
from bot.platforms.inbound import EMPTY, Callback, Unconfigured, WireAnswer, WireRequest
from bot.platforms.wecom import wire
from bot.platforms.wecom.crypto import WeComCrypto
from handlers.messages import InboundMessage, Reply

_SIGNED = ("msg_signature", "timestamp", "nonce")
_URL_CHECK = (*_SIGNED, "echostr")


class _Signed:
    """What the app and the robot share: the query check, the URL check, opening a body."""

    def __init__(self, crypto: WeComCrypto, *, tolerance: timedelta | None) -> None:
        self.crypto = crypto
        self.tolerance = tolerance

    def verify(self, request: WireRequest, *, now: datetime) -> None:
        """Refuse (403) a request whose query lacks what the signature check needs."""
        _require(request.query, _URL_CHECK if request.is_read else _SIGNED)

    def url_check(self, request: WireRequest, *, now: datetime) -> WireAnswer:
        """The decrypted ``echostr``, the whole answer to WeCom's GET."""
        plain = wire.verify_url(self.crypto, request.query, now=now, tolerance=self.tolerance)
        return WireAnswer(plain.encode("utf-8"), "text/plain")

    def open(self, request: WireRequest, encrypt: str, *, now: datetime) -> str:
        """Check the signature and timestamp over ``encrypt``, then decrypt it."""
        signature, timestamp, nonce = _require(request.query, _SIGNED)
        return self.crypto.open(
            signature, timestamp, nonce, encrypt, now=now, tolerance=self.tolerance
        )


class WeComAppCallback(_Signed):
    """The self-built app: encrypted XML in, an encrypted XML text reply out."""

    def __init__(self, crypto: WeComCrypto, *, corp_id: str, tolerance: timedelta | None) -> None:
        super().__init__(crypto, tolerance=tolerance)
        self.corp_id = corp_id

    def parse(
        self, request: WireRequest, body: bytes, *, now: datetime
    ) -> InboundMessage | WireAnswer:
        """The app message; an event (nothing to say) is answered with an empty 200."""
        if request.is_read:
            return self.url_check(request, now=now)
        encrypt = wire.parse_app_envelope(body)
        message = wire.parse_app_message(self.open(request, encrypt, now=now))
        return EMPTY if message is None else message

    def answer(self, message: InboundMessage, reply: Reply, *, now: datetime) -> WireAnswer:
        """The reply as an encrypted passive answer from the corp to the sender."""
        body = wire.render_app_reply(
            self.crypto,
            reply,
            to_user=message.sender_id,
            from_user=self.corp_id,
            timestamp=str(int(now.timestamp())),
            nonce=secrets.token_hex(8),
        )
        return WireAnswer(body, "application/xml")


class WeComRobotCallback(_Signed):
    """The intelligent robot: encrypted JSON in, one finished stream message out."""

    def parse(
        self, request: WireRequest, body: bytes, *, now: datetime
    ) -> InboundMessage | WireAnswer:
        """The robot message (every callback is one, events come with empty text)."""
        if request.is_read:
            return self.url_check(request, now=now)
        encrypt = wire.parse_robot_envelope(body)
        return wire.parse_robot_message(self.open(request, encrypt, now=now))

    def answer(self, message: InboundMessage, reply: Reply, *, now: datetime) -> WireAnswer:
        """The reply as an encrypted stream message, its id derived from the message's."""
        body = wire.render_robot_reply(
            self.crypto,
            reply,
            stream_id=f"s{message.message_id}"[:64],
            timestamp=str(int(now.timestamp())),
            nonce=secrets.token_hex(8),
        )
        return WireAnswer(body, "application/json")


def app_callback(settings: WeComSettings) -> Callback:
    """The app's callback, or a refusing one when ``[wecom]`` does not configure the app."""
    if not settings.app_enabled:
        return Unconfigured("wecom app")
    crypto = WeComCrypto(settings.token, settings.encoding_aes_key, settings.corp_id)
    return WeComAppCallback(crypto, corp_id=settings.corp_id, tolerance=_tolerance(settings))


def robot_callback(settings: WeComSettings) -> Callback:
    """The robot's callback, or a refusing one when ``[wecom]`` does not configure it."""
    if not settings.robot_enabled:
        return Unconfigured("wecom robot")
    crypto = WeComCrypto(settings.robot_token, settings.robot_encoding_aes_key, "")
    return WeComRobotCallback(crypto, tolerance=_tolerance(settings))


def _tolerance(settings: WeComSettings) -> timedelta | None:
    seconds = settings.timestamp_tolerance_s
    return timedelta(seconds=seconds) if seconds else None


def _require(query: Mapping[str, str], names: tuple[str, ...]) -> list[str]:
    # An unsigned request is not the platform's: 403, like a bad signature.
    missing = [name for name in names if not query.get(name)]
    if missing:
        raise Forbidden(f"missing {', '.join(missing)}")
    return [query[name] for name in names]
