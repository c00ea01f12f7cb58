"""Message size limits of each platform (splitting a text to fit is ``handlers.text``).

The outbox splits before it writes rows (one row per part), so a sender should never see an
over-long message; if one does, it refuses with ``PermanentDelivery`` rather than let the
platform truncate it silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "wecom_text": 2048,  # webhook text.content and app text.content
        "wecom_markdown": 4096,  # webhook markdown.content
        "wecom_app_markdown": 2048,  # app message markdown.content
        "dingtalk": 20000,  # the whole request body, custom robot and session webhook
    }
)
"""Platform limits in UTF-8 bytes."""

WECOM_MENTION_HEADROOM: Final = 1024
"""Room left in WeCom markdown for the ``<@userid>`` line the sender appends."""

DINGTALK_HEADROOM: Final = 4000
"""Room left in DingTalk's 20,000-byte body for the JSON envelope, the title, the ``at``
lists, the `` @mobile`` suffixes and JSON escapes (a newline costs two bytes)."""


def max_text_bytes(platform: str, markdown: bool, *, target_kind: str = "group") -> int:
    """The byte budget for ``OutboundMessage.text`` on ``platform``.

    ``target_kind`` matters on WeCom only: a markdown app message to a person (``"person"``)
    allows 2048 bytes where the group robot allows 4096.
    """
    if platform == "wecom":
        if not markdown:
            return LIMITS["wecom_text"]
        if target_kind in ("person", "people"):
            return LIMITS["wecom_app_markdown"]
        return LIMITS["wecom_markdown"] - WECOM_MENTION_HEADROOM
    if platform == "dingtalk":
        return LIMITS["dingtalk"] - DINGTALK_HEADROOM
    raise ValueError(f"unknown platform '{platform}'")
