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
