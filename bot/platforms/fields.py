"""Reading untrusted JSON callback fields: a wrong type or invalid text is a 400, never a
KeyError or TypeError deep inside a handler."""

from __future__ import annotations

from bot.errors import MalformedRequest


def text_field(obj: dict[str, object], key: str, *, where: str, allow_empty: bool = False) -> str:
    """``obj[key]`` as a non-empty (or, with ``allow_empty``, possibly empty) string.

    ``where`` prefixes the refusal, e.g. ``"dingtalk: "`` or ``"wecom: message.text."``.
    """
    value = obj.get(key)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise MalformedRequest(f"{where}{key} is missing or not a string")
    return valid_unicode(value, f"{where}{key}")


def valid_unicode(value: str, what: str) -> str:
    """``value`` unchanged, or ``MalformedRequest`` if it holds a lone surrogate."""
    # JSON may spell a lone surrogate ("\ud800"); such a str cannot be stored or sent
    # later, so refuse it here rather than fail deep inside storage.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedRequest(f"{what} is not valid Unicode") from exc
    return value


def object_field(obj: dict[str, object], key: str, *, where: str) -> dict[str, object]:
    """``obj[key]`` as a JSON object, or ``MalformedRequest``."""
    value = obj.get(key)
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where}{key} is missing or not an object")
    return value


# An epoch in milliseconds has 13 digits until the year 2286; anything longer is not a
# timestamp, and Python refuses to parse more than 4,300 digits at all (ValueError), while a
# few hundred already overflow a float. Check the length before ``int``.
MAX_EPOCH_DIGITS = 15


def epoch_number(raw: str) -> int | None:
    """``raw`` as a non-negative integer of at most 15 ASCII digits, else None.

    ``str.isdigit`` alone accepts ``²`` and other Unicode digits that ``int`` then refuses.
    """
    if not raw or len(raw) > MAX_EPOCH_DIGITS or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def declares_over(content_length: str, limit: int) -> bool:
    """Whether a ``Content-Length`` header declares more than ``limit`` bytes.

    Anything that is not plain ASCII digits says nothing (the stream is still counted);
    a number too long to parse cheaply is over any limit.
    """
    if not (content_length.isascii() and content_length.isdigit()):
        return False
    return len(content_length) > 18 or int(content_length) > limit
