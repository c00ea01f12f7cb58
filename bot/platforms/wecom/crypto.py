"""WeCom callback signature and AES envelope (企业微信 回调加解密).

The signature is ``sha1(sorted([token, timestamp, nonce, encrypt]))`` in lowercase hex; we
compute and compare it ourselves in constant time (wechatpy compares with ``!=``). The AES
part (AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes, random16 + len + msg + receiveid) is
wechatpy's ``PrpCrypto``. Every failure becomes ``Forbidden`` (not ours) or
``MalformedRequest`` (ours but unreadable), never a bare exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from datetime import datetime, timedelta

from wechatpy.work.crypto import PrpCrypto
from wechatpy.work.exceptions import InvalidCorpIdException

from bot.errors import Forbidden, MalformedRequest
from bot.platforms.fields import epoch_number


def wecom_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The callback signature over the four values, lowercase hex SHA-1."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol's hash


class _Prp(PrpCrypto):  # type: ignore[misc]  # wechatpy ships no type hints
    """wechatpy's AES-CBC framing with the 16 random leading bytes from the OS's CSPRNG.

    The IV is fixed (the key's first 16 bytes), so those bytes are what makes two
    encryptions of one answer differ. wechatpy draws them with ``random.sample`` (the
    Mersenne Twister, and slower: 5 % of the encrypted answer's cost here).
    """

    def get_random_string(self) -> str:
        return secrets.token_hex(8)


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey (also used for the
    intelligent robot's encrypted files)."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("encoding_aes_key is not valid base64") from exc
    if len(key) != 32:
        raise ValueError("encoding_aes_key must be 43 characters (32 bytes)")
    return key


class WeComCrypto:
    """Verify, decrypt and encrypt for one callback endpoint.

    ``receive_id`` is the corp id for a self-built app and ``""`` for an intelligent robot.
    """

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.receive_id = receive_id
        # One cipher for every message: each encrypt/decrypt makes its own context, so
        # handler threads can share it.
        self._prp = _Prp(aes_key(encoding_aes_key))

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """The signature this endpoint's token gives the three values."""
        return wecom_signature(self.token, timestamp, nonce, encrypt)

    def verify(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        encrypt: str,
        *,
        now: datetime,
        tolerance: timedelta | None,
    ) -> None:
        """Raise ``Forbidden`` unless the signature matches and the timestamp is fresh."""
        expected = self.signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise Forbidden("wecom: bad msg_signature")
        if tolerance is not None:
            sent = epoch_number(timestamp)
            if sent is None:
                raise Forbidden("wecom: timestamp is not a number of seconds")
            if abs(now.timestamp() - sent) > tolerance.total_seconds():
                raise Forbidden("wecom: timestamp outside the accepted window")

    def decrypt(self, encrypt: str) -> str:
        """The plaintext inside ``encrypt``; ``Forbidden`` if it was meant for another receiver."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest("wecom: Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise MalformedRequest("wecom: Encrypt has a bad length")
        try:
            return str(self._prp.decrypt(encrypt, self.receive_id))
        except InvalidCorpIdException as exc:
            raise Forbidden("wecom: receiveid does not match") from exc
        except (ValueError, struct.error, UnicodeDecodeError, IndexError) as exc:
            raise MalformedRequest("wecom: cannot decrypt Encrypt") from exc

    def open(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        encrypt: str,
        *,
        now: datetime,
        tolerance: timedelta | None,
    ) -> str:
        """Verify then decrypt."""
        self.verify(msg_signature, timestamp, nonce, encrypt, now=now, tolerance=tolerance)
        return self.decrypt(encrypt)

    def seal(self, plaintext: str, *, nonce: str = "", timestamp: str) -> tuple[str, str, str]:
        """Encrypt ``plaintext``; returns ``(encrypt, signature, nonce)``."""
        nonce = nonce or secrets.token_hex(8)
        encrypt = self._prp.encrypt(plaintext, self.receive_id)
        encrypt_text = encrypt.decode("ascii") if isinstance(encrypt, bytes) else str(encrypt)
        return encrypt_text, self.signature(timestamp, nonce, encrypt_text), nonce
