"""Downloading the files people send to the WeCom app and the intelligent robot.

::

    channel      ref            how
    wecom_app    MediaId        GET {wecom.api_base}/cgi-bin/media/get?access_token&media_id
    wecom_robot  file url       GET the url; the bytes are AES-256-CBC encrypted with the
                                robot's EncodingAESKey (IV = key[:16], PKCS#7 to 32 bytes),
                                or over the long connection with the url's own aeskey

The app's access token is cached until five minutes before it expires and fetched again
once when WeCom refuses it.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.clock import Clock
from bot.config import WeComSettings
from bot.platforms.download import (
    RESEND_FILE,
    HttpClient,
    MediaError,
    check_status,
    errcode,
    is_json,
    later,
    read_limited,
    small_json,
    token_seconds,
)
from bot.platforms.tokens import TokenCache
from bot.platforms.wecom.crypto import aes_key
from bot.platforms.wecom.wire import LINK_KEY
from handlers.errors import BotError
from handlers.files import too_large_message

ROBOT_PAD_BLOCK = 32
"""WeCom pads robot files (like callbacks) with PKCS#7 to a multiple of 32 bytes."""
WECOM_TOKEN_ERRORS = frozenset({40014, 42001})
WECOM_GONE = frozenset({40007})
"""invalid media_id: unknown, or older than the 3 days WeCom keeps inbound media."""


class WeComAppMedia:
    """Fetches an app message's ``MediaId`` through ``media/get``."""

    def __init__(
        self, settings: WeComSettings, *, http: HttpClient, clock: Clock, max_bytes: int
    ) -> None:
        self._settings = settings
        self._http = http
        self._max_bytes = max_bytes
        self._tokens = TokenCache(self._token, clock)

    def _token(self) -> tuple[str, int]:
        wc = self._settings
        if not (wc.corp_id and wc.secret):
            raise MediaError(later("wecom_app"), "wecom.corp_id / wecom.secret not configured")
        response = self._http().get(
            f"{wc.api_base.rstrip('/')}/cgi-bin/gettoken",
            params={"corpid": wc.corp_id, "corpsecret": wc.secret},
        )
        data = small_json(response)
        token = data.get("access_token")
        if not response.is_success or errcode(data) or not isinstance(token, str) or not token:
            raise MediaError(
                later("wecom_app"),
                f"gettoken: HTTP {response.status_code} errcode {data.get('errcode')}",
            )
        return token, token_seconds(data.get("expires_in", 7200))

    def fetch(self, media_id: str) -> bytes:
        """The file's bytes, or a ``BotError`` for the user."""
        url = f"{self._settings.api_base.rstrip('/')}/cgi-bin/media/get"
        for attempt in (1, 2):
            token = self._tokens.get()
            params = {"access_token": token, "media_id": media_id}
            http = self._http()
            with http.stream("GET", url, params=params, follow_redirects=True) as response:
                if not is_json(response):
                    check_status("wecom_app", "media/get", response)
                    return read_limited(response, self._max_bytes, self._max_bytes)
                data = small_json(response, read=True)
            code = errcode(data)
            if code in WECOM_TOKEN_ERRORS and attempt == 1:
                self._tokens.invalidate(token)
                continue
            if code in WECOM_GONE:
                raise MediaError(RESEND_FILE, f"media/get errcode {code}")
            raise MediaError(
                later("wecom_app"), f"media/get HTTP {response.status_code} errcode {code}"
            )
        raise AssertionError("unreachable")  # pragma: no cover


class WeComRobotMedia:
    """Fetches and decrypts an intelligent robot's file url."""

    def __init__(self, settings: WeComSettings, *, http: HttpClient, max_bytes: int) -> None:
        self._settings = settings
        self._http = http
        self._max_bytes = max_bytes

    def fetch(self, ref: str) -> bytes:
        """The decrypted file's bytes, or a ``BotError`` for the user.

        ``ref`` is the url, or (long connection) the url and its own key after ``#aeskey=``.
        """
        url, with_key, link_key = ref.partition(LINK_KEY)
        key_text = link_key or self._settings.robot_encoding_aes_key
        if not key_text:
            raise MediaError(later("wecom_robot"), "wecom.robot_encoding_aes_key is not set")
        if with_key and not link_key:
            raise MediaError(later("wecom_robot"), "robot file: empty aeskey")
        # The ciphertext is at most one padding block longer than the file.
        with self._http().stream("GET", url, follow_redirects=True) as response:
            check_status("wecom_robot", "robot file", response, gone=(403, 404, 410))
            encrypted = read_limited(response, self._max_bytes + ROBOT_PAD_BLOCK, self._max_bytes)
        try:
            content = open_robot_file(encrypted, key_text)
        except ValueError as exc:
            raise MediaError(
                "文件解密失败，未记录。请重新发送文件；如仍不成功，请联系管理员核对机器人配置。",
                f"robot file: {exc}",
            ) from exc
        if len(content) > self._max_bytes:
            raise BotError(too_large_message(len(content), self._max_bytes))
        return content


def robot_file_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey, or behind a long-connection
    ``aeskey`` (the same 32 bytes in base64, with or without its ``=``)."""
    return aes_key(encoding_aes_key.rstrip("="))


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
