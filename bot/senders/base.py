"""What every sender shares: the ``Sender`` port, the error-code table and one HTTP helper.

Both platforms answer most failures with HTTP 200 and a non-zero ``errcode`` in the body, so
one table decides, per code, whether a push may be retried (and how soon) or must stop::

    errcode                          outcome
    0                                delivered
    -1                               RetryableDelivery (platform busy)
    45009  (WeCom frequency limit)   RetryableDelivery, retry_after 60
    410100, 130101 (DingTalk limit)  RetryableDelivery, retry_after 600 (robot blocked 10 min)
    anything else                    PermanentDelivery (bad key, sign, token, too long, ...)

Transport trouble (timeouts, refused connections, HTTP 5xx, 429) is retryable; any other
HTTP 4xx is permanent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import httpx

from bot.errors import PermanentDelivery, RetryableDelivery
from handlers.messages import OutboundMessage

RETRY_AFTER: Mapping[int, float] = {
    -1: 0.0,
    45009: 60.0,
    410100: 600.0,
    130101: 600.0,
}
"""Error codes worth retrying, with the earliest sensible retry in seconds."""

RATE_KEY_MAX = 191
"""The outbox stores rate keys in a VARCHAR(191) (the longest indexable utf8mb4 string)."""


class Sender(Protocol):
    """Delivers one ``OutboundMessage`` to one platform endpoint."""

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Deliver once, or raise ``RetryableDelivery`` / ``PermanentDelivery``."""
        ...

    def rate_key(self, message: OutboundMessage) -> str:
        """The identity the per-robot rate limit applies to."""
        ...


def check_errcode(where: str, code: int, errmsg: str = "") -> None:
    """Raise the exception the table above gives for a non-zero ``code``."""
    if code == 0:
        return
    detail = f"{where}: errcode {code}" + (f" ({errmsg})" if errmsg else "")
    if code in RETRY_AFTER:
        raise RetryableDelivery(detail, code=code, retry_after=RETRY_AFTER[code])
    raise PermanentDelivery(detail, code=code)


def check_status(where: str, response: httpx.Response) -> None:
    """Map an HTTP error status; 2xx passes through."""
    status = response.status_code
    if response.is_success:
        return
    detail = f"{where}: HTTP {status} {response.text[:200]}".rstrip()
    if status == 429 or status >= 500:
        raise RetryableDelivery(detail, retry_after=retry_after_header(response))
    raise PermanentDelivery(detail)


def retry_after_header(response: httpx.Response) -> float:
    """Seconds from a ``Retry-After`` header given in seconds, else 0."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


def encode_json(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: what we measure against the byte limits is what we send."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def post_json(
    http: httpx.Client,
    where: str,
    url: str | httpx.URL,
    body: bytes,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST an encoded JSON body; transport failures become ``RetryableDelivery``."""
    try:
        return http.post(
            url,
            content=body,
            params=params,
            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )
    except httpx.TimeoutException as exc:
        raise RetryableDelivery(f"{where}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise RetryableDelivery(f"{where}: {type(exc).__name__}: {exc}") from exc


def json_object(where: str, response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object. Garbage on a 200 is treated as a transient proxy
    fault (retryable): we cannot tell whether the platform saw the message."""
    try:
        data = response.json()
    except ValueError as exc:
        raise RetryableDelivery(f"{where}: the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise RetryableDelivery(f"{where}: the answer is not a JSON object")
    return data


def errcode_of(data: Mapping[str, Any]) -> int:
    """``errcode`` as an int (absent means success; DingTalk sometimes sends it as text)."""
    raw = data.get("errcode", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return -2  # unknown and non-zero: permanent


def bounded_rate_key(prefix: str, ident: str) -> str:
    """``prefix:ident``, hashed when it would not fit the outbox column."""
    key = f"{prefix}:{ident}"
    if len(key) <= RATE_KEY_MAX:
        return key
    return f"{prefix}:sha256:{hashlib.sha256(ident.encode('utf-8')).hexdigest()}"


def secret_rate_key(prefix: str, secret: str) -> str:
    """``prefix:`` and a digest of ``secret`` (a group robot's key or access_token, a
    session): rate keys are stored and logged, and the secret is all it takes to post."""
    return f"{prefix}:{hashlib.sha256(secret.encode('utf-8')).hexdigest()[:16]}"


def unique(values: Iterable[str]) -> list[str]:
    """The non-empty ``values`` in first-seen order, each once (mention lists)."""
    return list(dict.fromkeys(v for v in values if v))


def check_not_empty(where: str, message: OutboundMessage) -> None:
    """Both platforms reject blank content; say so before spending a request on it."""
    if not message.text.strip():
        raise PermanentDelivery(f"{where}: the message text is empty")


def check_size(where: str, size: int, limit: int) -> None:
    """Refuse rather than let the platform truncate or reject an over-long message."""
    if size > limit:
        raise PermanentDelivery(
            f"{where}: {size} bytes is over the {limit}-byte limit "
            "(the outbox should have split it with split_text)"
        )
