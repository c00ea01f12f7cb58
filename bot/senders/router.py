"""Picks the sender for an ``OutboundMessage`` from its platform, target kind and target.

::

    kind     platform  target                     sender
    group    wecom     [[groups]] key, webhook    WeComWebhookSender   (group robot key)
    group    dingtalk  [[groups]] key, webhook    DingTalkRobotSender  (custom robot, signed)
    group    dingtalk  [[groups]] key, chat_id    DingTalkAppSender    (groupMessages/send)
    person   wecom     userid                     WeComAppSender       (wechatpy, message/send)
    person   dingtalk  userid (staffId)           DingTalkAppSender    (oToMessages/batchSend)
    session  dingtalk  sessionWebhook URL         DingTalkSessionSender

Anything else cannot be delivered and raises ``PermanentDelivery`` from ``send``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

from bot.clock import Clock
from bot.config import GroupConfig, Settings
from bot.errors import PermanentDelivery
from bot.links import link_maker
from bot.platforms.dingtalk.app_sender import DingTalkApp, DingTalkAppSender, DingTalkTokenCache
from bot.platforms.dingtalk.robot_sender import DingTalkRobotSender, DingTalkSessionSender
from bot.platforms.wecom.app_sender import WeComAppSender
from bot.platforms.wecom.webhook_sender import WeComWebhookSender
from bot.senders.base import Sender, bounded_rate_key
from handlers.messages import OutboundMessage


class SenderRouter:
    """A ``Sender`` that delegates each message to the sender its target needs."""

    def __init__(
        self,
        *,
        groups: dict[str, tuple[GroupConfig, Sender | None]],
        wecom_app: Sender | None,
        dingtalk_person: Sender | None,
        session: Sender,
        links: Callable[[str], str | None] = lambda _path: None,
    ) -> None:
        self._links = links
        self._groups = groups
        self._wecom_app = wecom_app
        self._dingtalk_person = dingtalk_person
        self._session = session

    def route(self, message: OutboundMessage) -> Sender:
        """The sender for ``message``; ``PermanentDelivery`` when there is none."""
        kind, platform = message.target_kind, message.platform
        if kind == "group":
            return self._group(message)
        if kind == "person" and platform == "wecom":
            return _configured(self._wecom_app, "wecom app ([wecom] corp_id/secret/agent_id)")
        if kind == "person" and platform == "dingtalk":
            return _configured(
                self._dingtalk_person, "dingtalk app robot ([dingtalk] app_key/app_secret)"
            )
        if kind == "session" and platform == "dingtalk":
            return self._session
        raise PermanentDelivery(f"no way to send a {platform} message to a {kind}")

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        sender = self.route(message)
        if message.file_path and not isinstance(sender, WeComWebhookSender):
            message = self._as_link(message)
        sender.send(message, dedupe_key=dedupe_key)

    def _as_link(self, message: OutboundMessage) -> OutboundMessage:
        """Only the WeCom group robot carries files; everyone else gets a download link."""
        name = Path(message.file_path).name
        link = self._links(message.file_path)
        note = f"下载：{link}" if link else f"文件 {name} 已生成，请向主持人或组织者索取。"
        return replace(message, text=f"{message.text}\n{note}", file_path="")

    def rate_key(self, message: OutboundMessage) -> str:
        """Never raises: an unroutable message gets a key of its own (``send`` refuses it)."""
        try:
            sender = self.route(message)
        except PermanentDelivery:
            return bounded_rate_key(
                "unroutable", f"{message.platform}:{message.target_kind}:{message.target}"
            )
        return sender.rate_key(message)

    def _group(self, message: OutboundMessage) -> Sender:
        entry = self._groups.get(message.target)
        if entry is None:
            raise PermanentDelivery(f"unknown group '{message.target}' (not in [[groups]])")
        group, sender = entry
        if group.platform != message.platform:
            raise PermanentDelivery(
                f"group '{group.key}' is on {group.platform}, not {message.platform}"
            )
        if sender is None:
            need = "webhook" if group.platform == "wecom" else "webhook or chat_id"
            raise PermanentDelivery(f"group '{group.key}' has no {need} to send through")
        return sender


def _configured(sender: Sender | None, what: str) -> Sender:
    if sender is None:
        raise PermanentDelivery(f"{what} is not configured")
    return sender


def build_router(settings: Settings, *, http: httpx.Client, clock: Clock) -> SenderRouter:
    """Make every sender the settings allow. No network traffic happens here."""
    wecom, ding = settings.wecom, settings.dingtalk
    app: DingTalkApp | None = None
    tokens: DingTalkTokenCache | None = None
    if ding.app_key and ding.app_secret:
        app = DingTalkApp(
            api_base=ding.api_base,
            app_key=ding.app_key,
            app_secret=ding.app_secret,
            robot_code=ding.robot_code or ding.app_key,
        )
        tokens = DingTalkTokenCache(http=http, clock=clock, app=app)

    groups: dict[str, tuple[GroupConfig, Sender | None]] = {}
    for group in settings.groups:
        sender: Sender | None = None
        if group.platform == "wecom" and group.webhook:
            sender = WeComWebhookSender(http=http, api_base=wecom.api_base, webhook=group.webhook)
        elif group.platform == "dingtalk" and group.webhook:
            sender = DingTalkRobotSender(
                http=http,
                clock=clock,
                oapi_base=ding.oapi_base,
                webhook=group.webhook,
                secret=group.secret,
            )
        elif group.platform == "dingtalk" and group.chat_id and app and tokens:
            sender = DingTalkAppSender(
                http=http, tokens=tokens, app=app, open_conversation_id=group.chat_id
            )
        groups[group.key] = (group, sender)

    wecom_app: Sender | None = None
    if wecom.corp_id and wecom.secret and wecom.agent_id:
        wecom_app = WeComAppSender(
            corp_id=wecom.corp_id,
            secret=wecom.secret,
            agent_id=wecom.agent_id,
            api_base=wecom.api_base,
            clock=clock,
        )
    dingtalk_person: Sender | None = None
    if app and tokens:
        dingtalk_person = DingTalkAppSender(http=http, tokens=tokens, app=app)

    return SenderRouter(
        groups=groups,
        wecom_app=wecom_app,
        dingtalk_person=dingtalk_person,
        session=DingTalkSessionSender(http=http),
        links=link_maker(settings.server, clock.now),
    )
