"""Per-message checks the platforms make, as pure functions of the parsed body.

Each ``check_*`` returns ``None`` for an acceptable body or the ``Refusal`` the platform
would answer. Limits and the common codes (40008, 44004, 45002, 460101, 40035) follow
PROTOCOLS.md §2 and §4; where the public docs name no code for a malformed field the
emulator answers the platform's generic "invalid parameter" (WeCom 40058, DingTalk 40035).
Checks that need memory (tokens, rate limits, media ids) are in ``bot.devtools.emulator.state``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

WECOM_TEXT_MAX = 2048
WECOM_MARKDOWN_MAX = 4096
WECOM_APP_TEXT_MAX = 2048
WECOM_IMAGE_MAX = 2 * 1024 * 1024
WECOM_NEWS_MAX = 8
WECOM_TOUSER_MAX = 1000
WECOM_DUPLICATE_INTERVAL_DEFAULT = 1800
WECOM_DUPLICATE_INTERVAL_MAX = 4 * 3600
DINGTALK_BODY_MAX = 20_000
DINGTALK_USER_IDS_MAX = 20

WECOM_WEBHOOK_TYPES = frozenset(
    {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}
)
WECOM_APP_TYPES = frozenset({"text", "markdown", "textcard", "file", "template_card"})
DINGTALK_ROBOT_TYPES = frozenset({"text", "link", "markdown", "actionCard", "feedCard"})
DINGTALK_MSG_KEYS: Mapping[str, tuple[str, ...]] = {
    "sampleText": ("content",),
    "sampleMarkdown": ("title", "text"),
    "sampleLink": ("title", "text", "messageUrl"),
    "sampleImageMsg": ("photoURL",),
    "sampleActionCard": ("title", "text"),
    "sampleFile": ("mediaId", "fileName"),
}


@dataclass(frozen=True)
class Refusal:
    """An error answer in the body of an HTTP 200: the ``errcode`` and its ``errmsg``."""

    code: int
    message: str


@dataclass(frozen=True)
class ApiRefusal:
    """A DingTalk v1.0 OpenAPI error: an HTTP status and a JSON ``code``."""

    http_status: int
    code: str
    message: str


def utf8_len(text: str) -> int:
    """The length in UTF-8 bytes, which is what the platforms' limits count."""
    return len(text.encode("utf-8"))


# --- WeCom ------------------------------------------------------------------------------


def check_wecom_webhook(body: Mapping[str, Any]) -> Refusal | None:
    """A group robot ``webhook/send`` body (media ids are checked by the caller)."""
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in WECOM_WEBHOOK_TYPES:
        return Refusal(40008, "invalid message type")
    part = body.get(msgtype)
    if not isinstance(part, dict):
        return Refusal(44004, f"empty content: {msgtype} is missing")
    return _WEBHOOK_PART_CHECKS[msgtype](msgtype, part)


def _webhook_text(msgtype: str, part: Mapping[str, Any]) -> Refusal | None:
    refusal = _content(part, "content", WECOM_TEXT_MAX)
    if refusal is None:
        for key in ("mentioned_list", "mentioned_mobile_list"):
            if key in part and not _str_list(part[key]):
                return Refusal(40058, f"invalid parameter: {key} is not a list of strings")
    return refusal


def _webhook_markdown(msgtype: str, part: Mapping[str, Any]) -> Refusal | None:
    return _content(part, "content", WECOM_MARKDOWN_MAX)


def _webhook_image(msgtype: str, part: Mapping[str, Any]) -> Refusal | None:
    return _image(part)


def _webhook_news(msgtype: str, part: Mapping[str, Any]) -> Refusal | None:
    articles = part.get("articles")
    if not isinstance(articles, list) or not articles:
        return Refusal(44004, "empty content: news.articles is empty")
    if len(articles) > WECOM_NEWS_MAX:
        return Refusal(40058, f"invalid parameter: more than {WECOM_NEWS_MAX} articles")
    for article in articles:
        if not isinstance(article, dict) or not _nonempty(article, "title", "url"):
            return Refusal(40058, "invalid parameter: an article needs title and url")
    return None


def _webhook_media(msgtype: str, part: Mapping[str, Any]) -> Refusal | None:
    if not _nonempty(part, "media_id"):
        return Refusal(44004, f"empty content: {msgtype}.media_id is empty")
    return None


def _webhook_template_card(msgtype: str, part: Mapping[str, Any]) -> Refusal | None:
    # Accepted as long as it says which card it is (not rendered).
    if not _nonempty(part, "card_type"):
        return Refusal(40058, "invalid parameter: template_card.card_type is missing")
    return None


_WEBHOOK_PART_CHECKS: Mapping[str, Callable[[str, Mapping[str, Any]], Refusal | None]] = {
    "text": _webhook_text,
    "markdown": _webhook_markdown,
    "markdown_v2": _webhook_markdown,
    "image": _webhook_image,
    "news": _webhook_news,
    "file": _webhook_media,
    "voice": _webhook_media,
    "template_card": _webhook_template_card,
}
"""One check per type in ``WECOM_WEBHOOK_TYPES``: the type's own part of the body."""


def check_wecom_app(body: Mapping[str, Any]) -> Refusal | None:
    """An app ``message/send`` body, apart from the token, agent id and media id."""
    touser = body.get("touser")
    if not isinstance(touser, str) or not touser.strip():
        return Refusal(81013, "user & party & tag all invalid: touser is empty")
    if len(wecom_members(touser)) > WECOM_TOUSER_MAX:
        return Refusal(40058, f"invalid parameter: more than {WECOM_TOUSER_MAX} users")
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in WECOM_APP_TYPES:
        return Refusal(40008, "invalid message type")
    part = body.get(msgtype)
    if not isinstance(part, dict):
        return Refusal(44004, f"empty content: {msgtype} is missing")
    if msgtype in ("text", "markdown"):
        return _content(part, "content", WECOM_APP_TEXT_MAX)
    if msgtype == "textcard":
        if not _nonempty(part, "title", "description", "url"):
            return Refusal(44004, "empty content: textcard needs title, description and url")
        if utf8_len(part["title"]) > 128 or utf8_len(part["description"]) > 512:
            return Refusal(45002, "content size out of limit: textcard title or description")
        return None
    if msgtype == "file":
        if not _nonempty(part, "media_id"):
            return Refusal(44004, "empty content: file.media_id is empty")
        return None
    if not _nonempty(part, "card_type"):
        return Refusal(40058, "invalid parameter: template_card.card_type is missing")
    return None


def wecom_members(touser: str) -> list[str]:
    """``"a|b|a"`` → ``["a", "b"]`` (order kept, blanks and repeats removed)."""
    seen: list[str] = []
    for raw in touser.split("|"):
        member = raw.strip()
        if member and member not in seen:
            seen.append(member)
    return seen


def wecom_duplicate_interval(body: Mapping[str, Any]) -> int | None:
    """Seconds of duplicate checking the sender asked for, or ``None`` if it did not."""
    enabled = body.get("enable_duplicate_check")
    if enabled not in (1, True, "1"):
        return None
    interval = body.get("duplicate_check_interval", WECOM_DUPLICATE_INTERVAL_DEFAULT)
    if isinstance(interval, str) and interval.isdigit():
        interval = int(interval)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0:
        interval = WECOM_DUPLICATE_INTERVAL_DEFAULT
    return min(interval, WECOM_DUPLICATE_INTERVAL_MAX)


def wecom_fingerprint(body: Mapping[str, Any]) -> str:
    """What makes two app messages "the same" for duplicate checking."""
    msgtype = body.get("msgtype")
    keyed = {
        "agentid": str(body.get("agentid", "")),
        "touser": body.get("touser"),
        "toparty": body.get("toparty"),
        "totag": body.get("totag"),
        "msgtype": msgtype,
        "content": body.get(msgtype) if isinstance(msgtype, str) else None,
    }
    return json.dumps(keyed, sort_keys=True, ensure_ascii=False, default=str)


def _image(part: Mapping[str, Any]) -> Refusal | None:
    if not _nonempty(part, "base64", "md5"):
        return Refusal(44004, "empty content: image needs base64 and md5")
    try:
        raw = base64.b64decode(part["base64"], validate=True)
    except (binascii.Error, ValueError):
        return Refusal(40009, "invalid image: base64 does not decode")
    if len(raw) > WECOM_IMAGE_MAX:
        return Refusal(40009, "invalid image size: over 2 MB")
    if hashlib.md5(raw).hexdigest() != str(part["md5"]).lower():  # noqa: S324 - the protocol's hash
        return Refusal(40009, "invalid image: md5 does not match the bytes")
    if not (raw.startswith(b"\xff\xd8") or raw.startswith(b"\x89PNG")):
        return Refusal(40009, "invalid image: only JPG and PNG")
    return None


def _content(part: Mapping[str, Any], key: str, limit: int) -> Refusal | None:
    content = part.get(key)
    if not isinstance(content, str) or not content.strip():
        return Refusal(44004, f"empty content: {key} is empty")
    if utf8_len(content) > limit:
        return Refusal(45002, f"content size out of limit: {utf8_len(content)} > {limit} bytes")
    return None


# --- DingTalk ---------------------------------------------------------------------------


def check_dingtalk_robot(body: Mapping[str, Any]) -> Refusal | None:
    """A custom robot ``robot/send`` or ``sessionWebhook`` body (size checked by the caller)."""
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in DINGTALK_ROBOT_TYPES:
        return Refusal(40035, "缺少参数 json: msgtype is missing or not supported")
    part = body.get(msgtype)
    if not isinstance(part, dict):
        return Refusal(40035, f"缺少参数 json: {msgtype} is missing")
    required = {
        "text": ("content",),
        "link": ("title", "text", "messageUrl"),
        "markdown": ("title", "text"),
        "actionCard": ("title", "text"),
        "feedCard": (),
    }[msgtype]
    if not _nonempty(part, *required):
        return Refusal(40035, f"缺少参数 json: {msgtype} needs {', '.join(required)}")
    if msgtype == "feedCard":
        links = part.get("links")
        if not isinstance(links, list) or not links:
            return Refusal(40035, "缺少参数 json: feedCard.links is empty")
    at = body.get("at")
    if at is not None:
        if not isinstance(at, dict):
            return Refusal(40035, "不合法的参数: at is not an object")
        for key in ("atMobiles", "atUserIds"):
            if key in at and not _str_list(at[key]):
                return Refusal(40035, f"不合法的参数: at.{key} is not a list of strings")
        if "isAtAll" in at and not isinstance(at["isAtAll"], bool):
            return Refusal(40035, "不合法的参数: at.isAtAll is not a boolean")
    return None


def check_dingtalk_openapi(body: Mapping[str, Any], *, batch: bool) -> ApiRefusal | None:
    """A ``groupMessages/send`` (``batch=False``) or ``oToMessages/batchSend`` body."""
    names = ("robotCode", "msgKey", "msgParam") + (() if batch else ("openConversationId",))
    for name in names:
        if not _nonempty(body, name):
            return ApiRefusal(400, f"Missing{name}", f"{name} is missing")
    if batch:
        user_ids = body.get("userIds")
        if not _str_list(user_ids) or not user_ids:
            return ApiRefusal(400, "MissinguserIds", "userIds is missing or empty")
        if len(user_ids) > DINGTALK_USER_IDS_MAX:
            return ApiRefusal(
                400, "InvalidParameter.userIds", f"at most {DINGTALK_USER_IDS_MAX} userIds"
            )
    msg_key = body["msgKey"]
    if msg_key not in DINGTALK_MSG_KEYS and not msg_key.startswith("sampleActionCard"):
        return ApiRefusal(400, "InvalidParameter.msgKey", f"unknown msgKey {msg_key}")
    try:
        param = json.loads(body["msgParam"])
    except (ValueError, RecursionError):
        return ApiRefusal(400, "InvalidParameter.msgParam", "msgParam is not a JSON string")
    if not isinstance(param, dict):
        return ApiRefusal(400, "InvalidParameter.msgParam", "msgParam is not a JSON object")
    required = DINGTALK_MSG_KEYS.get(msg_key, ())
    if not _nonempty(param, *required):
        return ApiRefusal(
            400, "InvalidParameter.msgParam", f"{msg_key} needs {', '.join(required)}"
        )
    return None


# --- helpers ----------------------------------------------------------------------------


def _nonempty(obj: Mapping[str, Any], *keys: str) -> bool:
    return all(isinstance(obj.get(k), str) and obj[k].strip() for k in keys)


def _str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
