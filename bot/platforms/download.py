"""What every platform's media download shares: the user-facing refusals and careful reads.

A download either returns the file's bytes or raises a ``BotError`` whose text tells the
user what to do (resend later, resend the file, compress it); ``MediaError`` adds a
``detail`` for the log. Bodies are read with a limit: a declared Content-Length over it is
refused before reading, and reading stops as soon as it is passed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from bot.platforms.fields import declares_over
from handlers.errors import BotError
from handlers.files import too_large_message
from handlers.messages import Channel

ERROR_BODY_MAX = 64 * 1024
"""A JSON error answer is read up to this size; anything longer is not an error body."""
RESEND_FILE = "文件已失效或无法获取，未记录。请重新发送文件。"

HttpClient = Callable[[], httpx.Client]
"""Gives the shared client on each call (it may be made on first use)."""

_LABELS = {"wecom_app": "企业微信", "wecom_robot": "企业微信", "dingtalk": "钉钉"}


class MediaError(BotError):
    """A download that failed; the text is for the user, ``detail`` for the log."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def later(channel: Channel, what: str = "下载文件失败") -> str:
    """The user's answer when the platform may well serve the file on a later try."""
    return (
        f"从{_LABELS[channel]}{what}，未记录。请稍后重发；"
        "如仍不成功，可上传网盘后发送：提交 材料名 https://…"
    )


def read_limited(response: httpx.Response, limit: int, max_bytes: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` (or declares that it will).

    ``max_bytes`` is the per-file limit the refusal names (``limit`` may allow for padding).
    """
    declared = response.headers.get("content-length", "")
    if declares_over(declared, limit):
        raise BotError(too_large_message(int(declared[:18]), max_bytes))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            # Stop here: closing the stream drops the rest unread.
            raise BotError(too_large_message(None, max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


def is_json(response: httpx.Response) -> bool:
    """Whether the answer says it is JSON (an error, where a file was expected)."""
    return "json" in response.headers.get("content-type", "").lower()


def small_json(response: httpx.Response, *, read: bool = False) -> dict[str, Any]:
    """A small JSON object answer, or ``{}`` for anything else.

    ``read``: the response is streamed, so read it here, at most ``ERROR_BODY_MAX`` bytes.
    """
    if read:
        declared = response.headers.get("content-length", "")
        if declares_over(declared, ERROR_BODY_MAX):
            return {}
        raw = b""
        for chunk in response.iter_bytes():
            raw += chunk
            if len(raw) > ERROR_BODY_MAX:
                return {}
    else:
        raw = response.content
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def errcode(data: Mapping[str, Any]) -> int:
    """``errcode`` as an int: absent is 0, garbage is -2 (non-zero, unknown)."""
    raw = data.get("errcode", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return -2


def token_seconds(raw: object) -> int:
    """A token lifetime in seconds; WeCom and DingTalk both grant 7200 by default."""
    try:
        return max(0, int(str(raw)))
    except ValueError:
        return 7200


def check_status(
    channel: Channel, where: str, response: httpx.Response, *, gone: tuple[int, ...] = ()
) -> None:
    """Refuse an HTTP error status: ``gone`` ones ask for the file again, others for patience."""
    if response.is_success:
        return
    detail = f"{where}: HTTP {response.status_code}"
    if response.status_code in gone:
        raise MediaError(RESEND_FILE, detail)
    raise MediaError(later(channel), detail)
