"""WeCom group robot (群机器人): ``POST {api_base}/cgi-bin/webhook/send?key=KEY``."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from bot.errors import PermanentDelivery, RetryableDelivery
from bot.platforms.wecom.render import wecom_markdown_content, wecom_webhook_body
from bot.senders.base import (
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
from handlers.text import utf8_len


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
        self._upload_url = f"{api_base.rstrip('/')}/cgi-bin/webhook/upload_media"
        self._key = webhook_key(webhook)
        # Parsed once: httpx parses a string URL and merges its params on every request.
        self._send_url = httpx.URL(self._url, params={"key": self._key})

    def rate_key(self, message: OutboundMessage) -> str:
        """One rate limit per group robot (its key)."""
        return secret_rate_key("wecom-webhook", self._key)

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Post once (a file is uploaded first), or raise a delivery error."""
        # The webhook has no idempotency aid; dedupe_key is unused here.
        where = "wecom webhook"
        if not self._key:
            raise PermanentDelivery(f"{where}: no robot key in the configured webhook")
        if message.image_path:
            body = encode_json({"msgtype": "image", "image": _image(message.image_path)})
        elif message.file_path:
            # One visible message (the file, named after the export) keeps a retry from
            # repeating a text that already went out.
            media_id = self._upload(message.file_path)
            body = encode_json({"msgtype": "file", "file": {"media_id": media_id}})
        else:
            _check_size(message)
            body = encode_json(wecom_webhook_body(message))
        response = post_json(self._http, where, self._send_url, body)
        check_status(where, response)
        data = json_object(where, response)
        check_errcode(where, errcode_of(data), str(data.get("errmsg", "")))

    def _upload(self, file_path: str) -> str:
        """``webhook/upload_media``: the media_id of the file (valid for three days)."""
        where = "wecom webhook upload"
        path = Path(file_path)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise PermanentDelivery(f"{where}: cannot read {path.name}: {exc.strerror}") from exc
        if not MEDIA_MIN < len(content) <= MEDIA_MAX:
            raise PermanentDelivery(f"{where}: {path.name} is {len(content)} bytes")
        try:
            response = self._http.post(
                self._upload_url,
                params={"key": self._key, "type": "file"},
                files={"media": (path.name, content, "application/octet-stream")},
            )
        except httpx.TimeoutException as exc:
            raise RetryableDelivery(f"{where}: timed out") from exc
        except httpx.HTTPError as exc:
            raise RetryableDelivery(f"{where}: {exc!r}") from exc
        check_status(where, response)
        data = json_object(where, response)
        check_errcode(where, errcode_of(data), str(data.get("errmsg", "")))
        media_id = data.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise RetryableDelivery(f"{where}: no media_id in the answer")
        return media_id


def _image(image_path: str) -> dict[str, str]:
    """The robot's ``image`` body: base64 of the raw bytes and their md5 (≤ 2 MB, PNG/JPG)."""
    path = Path(image_path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise PermanentDelivery(f"wecom webhook image: cannot read {path.name}") from exc
    if len(content) > IMAGE_MAX:
        raise PermanentDelivery(f"wecom webhook image: {path.name} is {len(content)} bytes")
    return {
        "base64": base64.b64encode(content).decode(),
        "md5": hashlib.md5(content).hexdigest(),  # noqa: S324 - the robot's own checksum
    }


IMAGE_MAX = 2 * 1024 * 1024
MEDIA_MIN = 5  # WeCom refuses files of 5 bytes or fewer
MEDIA_MAX = 20 * 1024 * 1024


def _check_size(message: OutboundMessage) -> None:
    check_not_empty("wecom webhook", message)
    if message.markdown:
        size, limit = utf8_len(wecom_markdown_content(message)), LIMITS["wecom_markdown"]
    else:
        size, limit = utf8_len(message.text), LIMITS["wecom_text"]
    check_size("wecom webhook", size, limit)
