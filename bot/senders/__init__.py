"""Outbound delivery: one sender per platform endpoint, and a router that picks one.

Every sender implements ``Sender`` (``send`` once, or raise ``RetryableDelivery`` /
``PermanentDelivery``; ``rate_key`` names the per-robot rate limit). ``build_router`` is the
composition root's entry point; ``limits`` holds the size limits.
"""

from __future__ import annotations

from bot.senders.base import Sender
from bot.senders.dingtalk_app import DingTalkApp, DingTalkAppSender, DingTalkTokenCache
from bot.senders.dingtalk_robot import DingTalkRobotSender, DingTalkSessionSender
from bot.senders.limits import LIMITS, max_text_bytes
from bot.senders.router import SenderRouter, build_router
from bot.senders.wecom_app import WeComAppSender
from bot.senders.wecom_webhook import WeComWebhookSender

__all__ = [
    "LIMITS",
    "DingTalkApp",
    "DingTalkAppSender",
    "DingTalkRobotSender",
    "DingTalkSessionSender",
    "DingTalkTokenCache",
    "Sender",
    "SenderRouter",
    "WeComAppSender",
    "WeComWebhookSender",
    "build_router",
    "max_text_bytes",
]
