"""Picks the sender for an ``OutboundMessage`` from its platform, target kind and target.

::

    kind     platform  target                     sender
    group    wecom     [[groups]] key, webhook    WeComWebhookSender   (group robot key)
    group    wecom     [[groups]] key, chat_id    RobotPushSender      (robot long connection)
    group    dingtalk  [[groups]] key, webhook    DingTalkRobotSender  (custom robot, signed)
    group    dingtalk  [[groups]] key, chat_id    DingTalkAppSender    (groupMessages/send)
    person   wecom     userid                     WeComAppSender       (wechatpy, message/send)
    person   wecom     userid (no app configured) RobotPushSender      (robot long connection)
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
from bot.config import DingTalkSettings, GroupConfig, Settings, WeComSettings
from bot.errors import PermanentDelivery
from bot.links import link_maker
from bot.platforms.dingtalk.app_sender import DingTalkApp, DingTalkAppSender, DingTalkTokenCache
from bot.platforms.dingtalk.robot_sender import DingTalkRobotSender, DingTalkSessionSender
from bot.platforms.wecom.app_sender import WeComAppSender
from bot.platforms.wecom.robot_push import ANSWER_TIMEOUT_S, RobotChannel, robot_push_sender
from bot.platforms.wecom.webhook_sender import WeComWebhookSender
from bot.senders.base import Sender, bounded_rate_key, secret_rate_key
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
        if kind in ("person", "people") and platform == "wecom":
            return _configured(
                self._wecom_app,
                "wecom app ([wecom] corp_id/secret/agent_id) or the robot's long connection",
            )
        if kind in ("person", "people") and platform == "dingtalk":
            return _configured(
                self._dingtalk_person, "dingtalk app robot ([dingtalk] app_key/app_secret)"
            )
        if kind == "session" and platform == "dingtalk":
            return self._session
        raise PermanentDelivery(f"no way to send a {platform} message to a {kind}")

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Send through the routed sender; a file becomes a link where it cannot go as one."""
        sender = self.route(message)
        if message.image_path and not isinstance(sender, WeComWebhookSender):
            return  # only the WeCom group robot takes pictures; the text went on its own
        if message.file_path and not isinstance(sender, WeComWebhookSender):
            message = self._as_link(message)
        sender.send(message, dedupe_key=dedupe_key)

    def _as_link(self, message: OutboundMessage) -> OutboundMessage:
        """Only the WeCom group robot carries files; everyone else gets a download link."""
        name = Path(message.file_path).name
        link = self._links(message.file_path)
        if link:
            note = f"下载：{link}"
        elif message.target_kind == "group":
            note = f"文件 {name} 已生成，请向主持人或组织者索取。"
        else:
            # The asker is the host, a leader or an organizer: nobody to send them to but
            # whoever runs the service.
            note = (
                f"文件 {name} 已生成并保存在服务器上，但下载链接未开启：请联系管理员取出文件，"
                "或在配置中设置 [server] public_url 和 link_secret 开启链接。"
            )
        return replace(message, text=f"{message.text}\n{note}", file_path="")

    def rate_key(self, message: OutboundMessage) -> str:
        """Never raises: an unroutable message gets a key of its own (``send`` refuses it)."""
        try:
            sender = self.route(message)
        except PermanentDelivery:
            where = f"unroutable:{message.platform}:{message.target_kind}"
            if message.target_kind == "session":  # a session URL lets its holder post
                return secret_rate_key(where, message.target)
            return bounded_rate_key(where, message.target)
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
            need = "webhook (or chat_id with the robot's long connection)"
            if group.platform == "dingtalk":
                need = "webhook or chat_id"
            raise PermanentDelivery(f"group '{group.key}' has no {need} to send through")
        return sender


def _configured(sender: Sender | None, what: str) -> Sender:
    if sender is None:
        raise PermanentDelivery(f"{what} is not configured")
    return sender


def build_router(
    settings: Settings,
    *,
    http: httpx.Client,
    clock: Clock,
    robot: RobotChannel | None = None,
) -> SenderRouter:
    """Make every sender the settings allow. No network traffic happens here.

    ``robot`` is the WeCom robot's long connection (``robot_mode = "websocket"``): a WeCom
    group with a ``chat_id`` and no webhook is pushed to through it, and so is a WeCom
    person when the app message API is not configured.
    """
    app = _dingtalk_app(settings.dingtalk, http=http, clock=clock)
    if settings.wecom.robot_mode != "websocket":
        robot = None
    groups: dict[str, tuple[GroupConfig, Sender | None]] = {
        group.key: (group, _group_sender(settings, group, app, robot, http=http, clock=clock))
        for group in settings.groups
    }
    dingtalk_person: Sender | None = None
    if app is not None:
        dingtalk_person = DingTalkAppSender(http=http, tokens=app[1], app=app[0])
    return SenderRouter(
        groups=groups,
        wecom_app=_wecom_app(settings.wecom, clock=clock)
        or robot_push_sender(
            robot, settings.wecom.robot_bot_id, "", clock.now, timeout=_answer_timeout(settings)
        ),
        dingtalk_person=dingtalk_person,
        session=DingTalkSessionSender(http=http),
        links=link_maker(settings.server, clock.now),
    )


_DingTalkApp = tuple[DingTalkApp, DingTalkTokenCache]


def _dingtalk_app(
    ding: DingTalkSettings, *, http: httpx.Client, clock: Clock
) -> _DingTalkApp | None:
    """The app robot's credentials and the token cache all its senders share, if configured."""
    if not (ding.app_key and ding.app_secret):
        return None
    app = DingTalkApp(
        api_base=ding.api_base,
        app_key=ding.app_key,
        app_secret=ding.app_secret,
        robot_code=ding.robot_code or ding.app_key,
    )
    return app, DingTalkTokenCache(http=http, clock=clock, app=app)


def _group_sender(
    settings: Settings,
    group: GroupConfig,
    app: _DingTalkApp | None,
    robot: RobotChannel | None,
    *,
    http: httpx.Client,
    clock: Clock,
) -> Sender | None:
    """The sender a ``[[groups]]`` entry allows (a webhook first), or ``None``."""
    if group.platform == "wecom" and group.webhook:
        return WeComWebhookSender(
            http=http, api_base=settings.wecom.api_base, webhook=group.webhook
        )
    if group.platform == "wecom" and group.chat_id:
        return robot_push_sender(
            robot,
            settings.wecom.robot_bot_id,
            group.chat_id,
            clock.now,
            timeout=_answer_timeout(settings),
        )
    if group.platform == "dingtalk" and group.webhook:
        return DingTalkRobotSender(
            http=http,
            clock=clock,
            oapi_base=settings.dingtalk.oapi_base,
            webhook=group.webhook,
            secret=group.secret,
        )
    if group.platform == "dingtalk" and group.chat_id and app is not None:
        return DingTalkAppSender(
            http=http, tokens=app[1], app=app[0], open_conversation_id=group.chat_id
        )
    return None


def _wecom_app(wecom: WeComSettings, *, clock: Clock) -> Sender | None:
    """The app sender for pushes to one person, if ``[wecom]`` configures the app."""
    if not (wecom.corp_id and wecom.secret and wecom.agent_id):
        return None
    return WeComAppSender(
        corp_id=wecom.corp_id,
        secret=wecom.secret,
        agent_id=wecom.agent_id,
        api_base=wecom.api_base,
        clock=clock,
        proxy=wecom.proxy,
    )


def _answer_timeout(settings: Settings) -> float:
    """How long a push over the long connection waits for WeCom's answer: its own bound,
    or the outbox's request timeout if that is shorter."""
    return min(ANSWER_TIMEOUT_S, settings.outbox.request_timeout_s)
