"""The DingTalk app robot's HTTP callback behind ``bot.platforms.inbound.Callback``.

The ``timestamp`` and ``sign`` headers are checked before the body is read. The answer
goes out later through the message's ``sessionWebhook`` (queued with it), so the callback
itself is only acknowledged with ``{}``.
"""

from __future__ import annotations

from datetime import datetime

from bot.config import DingTalkSettings
from bot.platforms.dingtalk import wire
from bot.platforms.dingtalk.sign import verify_dingtalk_request
from bot.platforms.inbound import Callback, Unconfigured, WireAnswer, WireRequest
from handlers.messages import InboundMessage, Reply

_ACK = WireAnswer(b"{}", "application/json")


class DingTalkCallback:
    """The robot's callback, signed with the app secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def verify(self, request: WireRequest, *, now: datetime) -> None:
        """Refuse (403) unless the headers carry a fresh signature made with our secret."""
        verify_dingtalk_request(
            request.headers.get("timestamp", ""),
            request.headers.get("sign", ""),
            self._secret,
            now=now,
        )

    def parse(self, request: WireRequest, body: bytes, *, now: datetime) -> InboundMessage:
        """The message in the JSON body."""
        return wire.parse_message(body)

    def answer(self, message: InboundMessage, reply: Reply, *, now: datetime) -> WireAnswer:
        """``{}``: DingTalk only needs a 200; the reply goes by sessionWebhook."""
        return _ACK


def callback(settings: DingTalkSettings) -> Callback:
    """The robot's callback, or a refusing one when ``[dingtalk]`` has no app secret."""
    if not settings.app_secret:
        return Unconfigured("dingtalk")
    return DingTalkCallback(settings.app_secret)
