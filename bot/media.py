"""Downloading the files people send to the bot from the platform that holds them.

::

    channel      ref            how
    wecom_app    MediaId        GET {wecom.api_base}/cgi-bin/media/get?access_token&media_id
    wecom_robot  file url       GET the url; the bytes are AES-256-CBC encrypted with the
                                robot's EncodingAESKey (IV = key[:16], PKCS#7 to 32 bytes)
    dingtalk     downloadCode   POST {dingtalk.api_base}/v1.0/robot/messageFiles/download
                                {downloadCode, robotCode} → {"downloadUrl"}, then GET it

``PlatformMedia.intake(channel)`` is the ``FileIntake`` the 提交 handlers use for messages
from that channel. The size limit is enforced while streaming: a declared Content-Length
over the limit is refused before reading, and reading stops as soon as the limit is passed.
Every failure is a ``BotError`` whose text tells the user what to do (resend later, resend
the file, compress it); nothing is recorded then. Access tokens are cached until five
minutes before they expire and fetched again once when the platform refuses them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.clock import Clock
from bot.config import Settings
from bot.platforms.tokens import TokenCache
from bot.platforms.wecom.crypto import aes_key
from handlers.errors import BotError
from handlers.files import DEFAULT_MAX_BYTES, FileIntake, too_large_message
from handlers.messages import Attachment, Channel

log = logging.getLogger("edubot.media")

CHANNELS: tuple[Channel, ...] = ("wecom_app", "wecom_robot", "dingtalk")
MEDIA_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
ROBOT_PAD_BLOCK = 32
"""WeCom pads robot files (like callbacks) with PKCS#7 to a multiple of 32 bytes."""
ERROR_BODY_MAX = 64 * 1024
"""A JSON error answer is read up to this size; anything longer is not an error body."""
WECOM_TOKEN_ERRORS = frozenset({40014, 42001})
WECOM_GONE = frozenset({40007})
"""invalid media_id: unknown, or older than the 3 days WeCom keeps inbound media."""

_LABELS = {"wecom_app": "企业微信", "wecom_robot": "企业微信", "dingtalk": "钉钉"}
_RESEND_FILE = "文件已失效或无法获取，未记录。请重新发送文件。"


class MediaError(BotError):
    """A download that failed; the text is for the user, ``detail`` for the log."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def _later(channel: Channel, what: str = "下载文件失败") -> str:
    return (
        f"从{_LABELS[channel]}{what}，未记录。请稍后重发；"
        "如仍不成功，可上传网盘后发送：提交 材料名 https://…"
    )


class PlatformMedia:
    """Fetches attachments from WeCom and DingTalk.

    ``http`` is shared with the caller; without one, a client is made on first use and
    closed by ``close()``. ``max_bytes`` is the per-file limit (``FileIntake.max_bytes``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.Client | None = None,
        clock: Clock,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._settings = settings
        self._given = http
        self._own: httpx.Client | None = None
        self._own_lock = threading.Lock()
        self.max_bytes = max_bytes
        self._wecom_tokens = TokenCache(self._wecom_token, clock)
        self._dingtalk_tokens = TokenCache(self._dingtalk_token, clock)

    # --- the ports ------------------------------------------------------------------------

    def intake(self, channel: Channel) -> FileIntake:
        """The ``FileIntake`` for messages that arrived on ``channel``."""

        def fetch(attachment: Attachment) -> bytes:
            return self.fetch(attachment, channel)

        return FileIntake(fetch, self.max_bytes)

    def intakes(self) -> dict[Channel, FileIntake]:
        """One intake per channel, for the dispatcher."""
        return {channel: self.intake(channel) for channel in CHANNELS}

    def fetch(self, attachment: Attachment, channel: Channel) -> bytes:
        """The attachment's bytes, or a ``BotError`` for the user."""
        try:
            if channel == "wecom_app":
                return self._wecom_app(attachment.ref)
            if channel == "wecom_robot":
                return self._wecom_robot(attachment.ref)
            return self._dingtalk(attachment.ref)
        except MediaError as exc:
            log.warning("media %s on %s refused: %s", attachment.ref[:80], channel, exc.detail)
            raise
        except httpx.TimeoutException as exc:
            log.warning("media %s on %s timed out: %r", attachment.ref[:80], channel, exc)
            raise BotError(_later(channel, "下载文件超时")) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.warning("media %s on %s failed: %r", attachment.ref[:80], channel, exc)
            raise BotError(_later(channel)) from exc

    def close(self) -> None:
        """Close the client made here (a given client belongs to the caller)."""
        with self._own_lock:
            if self._own is not None:
                self._own.close()
                self._own = None

    @property
    def _http(self) -> httpx.Client:
        if self._given is not None:
            return self._given
        with self._own_lock:
            if self._own is None:
                self._own = httpx.Client(timeout=MEDIA_TIMEOUT)
            return self._own

    # --- WeCom app: media/get -------------------------------------------------------------

    def _wecom_token(self) -> tuple[str, int]:
        wc = self._settings.wecom
        if not (wc.corp_id and wc.secret):
            raise MediaError(_later("wecom_app"), "wecom.corp_id / wecom.secret not configured")
        response = self._http.get(
            f"{wc.api_base.rstrip('/')}/cgi-bin/gettoken",
            params={"corpid": wc.corp_id, "corpsecret": wc.secret},
        )
        data = _json(response)
        token = data.get("access_token")
        if not response.is_success or _errcode(data) or not isinstance(token, str) or not token:
            raise MediaError(
                _later("wecom_app"),
                f"gettoken: HTTP {response.status_code} errcode {data.get('errcode')}",
            )
        return token, _seconds(data.get("expires_in", 7200))

    def _wecom_app(self, media_id: str) -> bytes:
        url = f"{self._settings.wecom.api_base.rstrip('/')}/cgi-bin/media/get"
        for attempt in (1, 2):
            token = self._wecom_tokens.get()
            params = {"access_token": token, "media_id": media_id}
            with self._http.stream("GET", url, params=params, follow_redirects=True) as response:
                if not _is_json(response):
                    _check_status("wecom_app", "media/get", response)
                    return self._read(response, self.max_bytes)
                data = _json(response, read=True)
            code = _errcode(data)
            if code in WECOM_TOKEN_ERRORS and attempt == 1:
                self._wecom_tokens.invalidate(token)
                continue
            if code in WECOM_GONE:
                raise MediaError(_RESEND_FILE, f"media/get errcode {code}")
            raise MediaError(
                _later("wecom_app"), f"media/get HTTP {response.status_code} errcode {code}"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    # --- WeCom intelligent robot: an encrypted file url -----------------------------------

    def _wecom_robot(self, url: str) -> bytes:
        key_text = self._settings.wecom.robot_encoding_aes_key
        if not key_text:
            raise MediaError(_later("wecom_robot"), "wecom.robot_encoding_aes_key is not set")
        # The ciphertext is at most one padding block longer than the file.
        with self._http.stream("GET", url, follow_redirects=True) as response:
            _check_status("wecom_robot", "robot file", response, gone=(403, 404, 410))
            encrypted = self._read(response, self.max_bytes + ROBOT_PAD_BLOCK)
        try:
            content = open_robot_file(encrypted, key_text)
        except ValueError as exc:
            raise MediaError(
                "文件解密失败，未记录。请重新发送文件；如仍不成功，请联系管理员核对机器人配置。",
                f"robot file: {exc}",
            ) from exc
        if len(content) > self.max_bytes:
            raise BotError(too_large_message(len(content), self.max_bytes))
        return content

    # --- DingTalk: messageFiles/download, then the downloadUrl ----------------------------

    def _dingtalk_token(self) -> tuple[str, int]:
        ding = self._settings.dingtalk
        if not (ding.app_key and ding.app_secret):
            raise MediaError(_later("dingtalk"), "dingtalk.app_key / app_secret not configured")
        response = self._http.post(
            f"{ding.api_base.rstrip('/')}/v1.0/oauth2/accessToken",
            json={"appKey": ding.app_key, "appSecret": ding.app_secret},
        )
        data = _json(response)
        token = data.get("accessToken")
        if not response.is_success or not isinstance(token, str) or not token:
            raise MediaError(
                _later("dingtalk"),
                f"accessToken: HTTP {response.status_code} {data.get('code', '')}",
            )
        return token, _seconds(data.get("expireIn", 7200))

    def _dingtalk(self, download_code: str) -> bytes:
        ding = self._settings.dingtalk
        url = f"{ding.api_base.rstrip('/')}/v1.0/robot/messageFiles/download"
        body = {"downloadCode": download_code, "robotCode": ding.robot_code or ding.app_key}
        for attempt in (1, 2):
            token = self._dingtalk_tokens.get()
            response = self._http.post(
                url, json=body, headers={"x-acs-dingtalk-access-token": token}
            )
            if response.status_code == 401 and attempt == 1:
                self._dingtalk_tokens.invalidate(token)
                continue
            data = _json(response)
            where = f"messageFiles/download: HTTP {response.status_code} {data.get('code', '')}"
            if response.status_code == 400:
                raise MediaError(_RESEND_FILE, where)
            download_url = data.get("downloadUrl")
            if not response.is_success or not isinstance(download_url, str) or not download_url:
                raise MediaError(_later("dingtalk"), where)
            with self._http.stream("GET", download_url, follow_redirects=True) as file:
                _check_status("dingtalk", "downloadUrl", file, gone=(403, 404, 410))
                return self._read(file, self.max_bytes)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- streaming with a limit -----------------------------------------------------------

    def _read(self, response: httpx.Response, limit: int) -> bytes:
        """The body, refused as soon as it passes ``limit`` (or declares that it will)."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BotError(too_large_message(int(declared), self.max_bytes))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                # Stop here: closing the stream drops the rest unread.
                raise BotError(too_large_message(None, self.max_bytes))
            chunks.append(chunk)
        return b"".join(chunks)


# --- robot file encryption ----------------------------------------------------------------


def robot_file_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey."""
    return aes_key(encoding_aes_key)


def open_robot_file(encrypted: bytes, encoding_aes_key: str) -> bytes:
    """Decrypt a file the intelligent robot's url served (no random prefix, no length)."""
    key = robot_file_key(encoding_aes_key)
    if not encrypted or len(encrypted) % 16:
        raise ValueError(f"ciphertext length {len(encrypted)} is not a multiple of 16")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= ROBOT_PAD_BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad PKCS#7 padding (wrong EncodingAESKey?)")
    return padded[:-pad]


# --- helpers ------------------------------------------------------------------------------


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "").lower()


def _json(response: httpx.Response, *, read: bool = False) -> dict[str, Any]:
    """A small JSON object answer, or ``{}`` for anything else."""
    if read:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > ERROR_BODY_MAX:
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


def _errcode(data: Mapping[str, Any]) -> int:
    """``errcode`` as an int: absent is 0, garbage is -2 (non-zero, unknown)."""
    raw = data.get("errcode", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return -2


def _seconds(raw: object) -> int:
    """A token lifetime in seconds; WeCom and DingTalk both grant 7200 by default."""
    try:
        return max(0, int(str(raw)))
    except ValueError:
        return 7200


def _check_status(
    channel: Channel, where: str, response: httpx.Response, *, gone: tuple[int, ...] = ()
) -> None:
    if response.is_success:
        return
    detail = f"{where}: HTTP {response.status_code}"
    if response.status_code in gone:
        raise MediaError(_RESEND_FILE, detail)
    raise MediaError(_later(channel), detail)
