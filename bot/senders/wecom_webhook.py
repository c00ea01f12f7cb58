"""WeCom group robot (群机器人): ``POST {api_base}/cgi-bin/webhook/send?key=KEY``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from bot.errors import PermanentDelivery
from bot.messages import OutboundMessage
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
)
from bot.senders.limits import LIMITS, utf8_len
from bot.senders.render import wecom_markdown_content, wecom_webhook_body


def webhook_key(webhook: str) -> str:
    """The robot key from a full webhook URL (``...send?key=K``) or a bare key."""
    value = webhook.strip()
    if "?" in value or "://" in value:
        keys = parse_qs(urlsplit(value).query).get("key", [])
        return keys[0].strip() if keys else ""
    return value


class WeComWebhookSender:
    """Pushes to one WeCom group through its robot key.

    The host of a configured full URL is ignored: requests always go to ``api_base``, so the
    same config works against the emulator.
    """

    def __init__(self, *, http: httpx.Client, api_base: str, webhook: str) -> None:
        self._http = http
        self._url = f"{api_base.rstrip('/')}/cgi-bin/webhook/send"
        self._key = webhook_key(webhook)

    def rate_key(self, message: OutboundMessage) -> str:
        return bounded_rate_key("wecom-webhook", self._key)

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        # The webhook has no idempotency aid; dedupe_key is unused here.
        where = "wecom webhook"
        if not self._key:
            raise PermanentDelivery(f"{where}: no robot key in the configured webhook")
        _check_size(message)
        body = encode_json(wecom_webhook_body(message))
        response = post_json(self._http, where, self._url, body, params={"key": self._key})
        check_status(where, response)
        data = json_object(where, response)
        check_errcode(where, errcode_of(data), str(data.get("errmsg", "")))


def _check_size(message: OutboundMessage) -> None:
    check_not_empty("wecom webhook", message)
    if message.markdown:
        size, limit = utf8_len(wecom_markdown_content(message)), LIMITS["wecom_markdown"]
    else:
        size, limit = utf8_len(message.text), LIMITS["wecom_text"]
    check_size("wecom webhook", size, limit)
