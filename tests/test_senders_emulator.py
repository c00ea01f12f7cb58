"""Golden requests: every sender path, through the router, into the loopback emulator.

For each way edubot pushes (WeCom group robot text and markdown, WeCom app message via
wechatpy, DingTalk custom robot text and markdown with a signed URL, DingTalk app robot to a
group and to one person, DingTalk sessionWebhook) the emulator must accept the request and
record exactly the JSON body written here by hand. The httpx requests are also captured to
pin the bytes on the wire (compact UTF-8 JSON), the signed robot URL and the token header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.devtools.emulator.records import Recorded
from bot.platforms.router import SenderRouter, build_router
from handlers.messages import Mention, OutboundMessage
from tests.support.campaign import DING_SECRET, campaign

SHENYI = Mention("申毅", wecom_userid="shenyi", dingtalk_userid="ding-shenyi", mobile="13800000001")
LIANGFEI = Mention("梁飞", wecom_userid="liangfei", dingtalk_userid="ding-liangfei")
NO_WECOM = Mention("党攀峰", dingtalk_userid="ding-dangpanfeng", mobile="13800000006")

TEXT = "【会场提醒】学校管理论坛·瑞泉中学会场明天开始\n地点：瑞泉中学"
MSG_UUID_NAMESPACE = uuid.UUID("6f1d3c0e-8b5a-5e57-9d1c-2a0b7c4e9f10")


@dataclass
class Wire:
    """The emulator, the router over real senders, and every httpx request made."""

    state: EmulatorState
    base_url: str
    router: SenderRouter
    requests: list[httpx.Request]
    clock: FakeClock

    def send(self, message: OutboundMessage, dedupe_key: str = "push-1") -> Recorded:
        """Send through the router; the one message the emulator delivered."""
        before = len(self.state.messages())
        self.router.send(message, dedupe_key=dedupe_key)
        delivered = self.state.messages()[before:]
        assert len(delivered) == 1, delivered
        return delivered[0]

    def last_request(self, path: str) -> httpx.Request:
        return next(r for r in reversed(self.requests) if r.url.path == path)


@pytest.fixture
def wire(clock: FakeClock) -> Iterator[Wire]:
    data = campaign()
    data["groups"].append({"key": "dingapp", "platform": "dingtalk", "chat_id": "cidDingApp"})
    state = EmulatorState.from_settings(settings_from_mapping(data), clock)
    requests: list[httpx.Request] = []
    hooks: dict[str, list[Any]] = {"request": [requests.append]}
    with EmulatorServer(state) as emu, httpx.Client(timeout=5.0, event_hooks=hooks) as http:
        data["wecom"] = {**data["wecom"], "api_base": emu.base_url}
        data["dingtalk"] = {**data["dingtalk"], "api_base": emu.base_url, "oapi_base": emu.base_url}
        router = build_router(settings_from_mapping(data), http=http, clock=clock)
        yield Wire(state, emu.base_url, router, requests, clock)


def compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def msg_uuid(dedupe_key: str) -> str:
    return str(uuid.uuid5(MSG_UUID_NAMESPACE, dedupe_key))


# ------------------------------------------------------------------------------ WeCom


def test_wecom_group_robot_text_with_mentions(wire: Wire) -> None:
    message = OutboundMessage(
        "wecom", "group", "ruiquan", TEXT, mentions=(SHENYI, LIANGFEI, NO_WECOM, SHENYI)
    )
    record = wire.send(message)
    expected = {
        "msgtype": "text",
        "text": {
            "content": TEXT,
            "mentioned_list": ["shenyi", "liangfei"],
            "mentioned_mobile_list": ["13800000006"],
        },
    }
    assert (record.api, record.target, record.body) == ("webhook/send", "ruiquan-key", expected)
    request = wire.last_request("/cgi-bin/webhook/send")
    assert str(request.url) == f"{wire.base_url}/cgi-bin/webhook/send?key=ruiquan-key"
    assert request.content == compact(expected)
    assert request.headers["content-type"] == "application/json; charset=utf-8"


def test_wecom_group_robot_markdown_tags_the_mentioned(wire: Wire) -> None:
    message = OutboundMessage(
        "wecom",
        "group",
        "leaders",
        "## 成绩公布\n> 瑞泉中学共同体 **87.7**",
        markdown=True,
        mentions=(SHENYI, NO_WECOM),
    )
    record = wire.send(message)
    expected = {
        "msgtype": "markdown",
        "markdown": {"content": "## 成绩公布\n> 瑞泉中学共同体 **87.7**\n<@shenyi>"},
    }
    assert (record.api, record.target, record.body) == ("webhook/send", "leaders-key", expected)
    assert wire.last_request("/cgi-bin/webhook/send").content == compact(expected)


def test_wecom_app_message_to_one_member_through_wechatpy(wire: Wire) -> None:
    record = wire.send(OutboundMessage("wecom", "person", "shenyi", "你的评分已记录：86 分"))
    assert (record.api, record.target) == ("message/send", "shenyi")
    assert record.body == {
        "touser": "shenyi",
        "toparty": "",
        "totag": "",
        "agentid": 1000002,
        "msgtype": "text",
        "text": {"content": "你的评分已记录：86 分"},
        "enable_duplicate_check": 1,
        "duplicate_check_interval": 14400,
    }
    # The token came from the emulator's gettoken (not the real qyapi host).
    token_calls = wire.state.attempts(api="gettoken")
    assert [(c.target, c.status) for c in token_calls] == [("wx49f0ab532d5d035a", "ok")]


def test_wecom_app_markdown(wire: Wire) -> None:
    record = wire.send(OutboundMessage("wecom", "person", "shenyi", "**已公布**", markdown=True))
    assert record.body["msgtype"] == "markdown"
    assert record.body["markdown"] == {"content": "**已公布**"}


# ------------------------------------------------------------------------------ DingTalk


def signed_url(base_url: str, token: str, secret: str, timestamp_ms: int) -> str:
    """The custom robot URL as DingTalk's docs describe 加签, computed independently."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    return f"{base_url}/robot/send?access_token={token}&timestamp={timestamp_ms}&sign={sign}"


def test_dingtalk_custom_robot_text_with_at_and_a_signed_url(wire: Wire) -> None:
    message = OutboundMessage(
        "dingtalk", "group", "yuhong", "请评委准时到场", mentions=(NO_WECOM, LIANGFEI)
    )
    record = wire.send(message, dedupe_key="remind:forum:yuhong:eve")
    expected = {
        "msgtype": "text",
        "text": {"content": "请评委准时到场 @13800000006 @ding-liangfei"},
        "at": {
            "atMobiles": ["13800000006"],
            "atUserIds": ["ding-dangpanfeng", "ding-liangfei"],
            "isAtAll": False,
        },
        "msgUuid": msg_uuid("remind:forum:yuhong:eve"),
    }
    assert (record.api, record.target, record.body) == ("robot/send", "yuhong-token", expected)
    request = wire.last_request("/robot/send")
    timestamp_ms = int(wire.clock.now().timestamp() * 1000)
    assert timestamp_ms == 1_644_712_200_000
    assert str(request.url) == signed_url(wire.base_url, "yuhong-token", "SECyuhong", timestamp_ms)
    assert request.content == compact(expected)


def test_dingtalk_robot_signature_follows_the_clock(wire: Wire) -> None:
    wire.clock.advance(timedelta(hours=3))  # an hour-old signature would be refused
    wire.send(OutboundMessage("dingtalk", "group", "yuhong", "三小时后"))
    timestamp_ms = int(wire.clock.now().timestamp() * 1000)
    expected = signed_url(wire.base_url, "yuhong-token", "SECyuhong", timestamp_ms)
    assert str(wire.last_request("/robot/send").url) == expected


def test_dingtalk_custom_robot_markdown(wire: Wire) -> None:
    message = OutboundMessage(
        "dingtalk",
        "group",
        "yuhong",
        "### 育红初中会场\n评分已全部完成",
        title="评分完成",
        markdown=True,
        mentions=(NO_WECOM,),
    )
    record = wire.send(message, dedupe_key="done:yuhong")
    expected = {
        "msgtype": "markdown",
        "markdown": {"title": "评分完成", "text": "### 育红初中会场\n评分已全部完成 @13800000006"},
        "at": {"atMobiles": ["13800000006"], "atUserIds": ["ding-dangpanfeng"], "isAtAll": False},
        "msgUuid": msg_uuid("done:yuhong"),
    }
    assert record.body == expected
    assert wire.last_request("/robot/send").content == compact(expected)


def test_dingtalk_app_robot_to_a_group(wire: Wire) -> None:
    record = wire.send(OutboundMessage("dingtalk", "group", "dingapp", "育红初中会场：评分开始"))
    expected = {
        "msgKey": "sampleText",
        "msgParam": '{"content": "育红初中会场：评分开始"}',
        "openConversationId": "cidDingApp",
        "robotCode": "dingrobot",
    }
    assert (record.api, record.target, record.body) == (
        "groupMessages/send",
        "cidDingApp",
        expected,
    )
    request = wire.last_request("/v1.0/robot/groupMessages/send")
    assert request.content == compact(expected)
    token = wire.last_request("/v1.0/oauth2/accessToken")
    assert token.content == compact({"appKey": "dingappkey", "appSecret": DING_SECRET})
    assert request.headers["x-acs-dingtalk-access-token"]


def test_dingtalk_app_robot_one_to_one(wire: Wire) -> None:
    message = OutboundMessage(
        "dingtalk", "person", "ding-shenyi", "# 成绩\n你已完成评分", title="成绩", markdown=True
    )
    record = wire.send(message)
    expected = {
        "msgKey": "sampleMarkdown",
        "msgParam": '{"title": "成绩", "text": "# 成绩\\n你已完成评分"}',
        "userIds": ["ding-shenyi"],
        "robotCode": "dingrobot",
    }
    assert (record.api, record.target, record.body) == (
        "oToMessages/batchSend",
        "ding-shenyi",
        expected,
    )
    assert wire.last_request("/v1.0/robot/oToMessages/batchSend").content == compact(expected)
    # One token serves both app-robot calls.
    wire.send(OutboundMessage("dingtalk", "person", "ding-liangfei", "第二条"))
    assert len(wire.state.attempts(api="oauth2/accessToken")) == 1


def test_dingtalk_session_webhook_reply(wire: Wire) -> None:
    path = wire.state.open_session("sess-1", wire.clock.now() + timedelta(minutes=90))
    url = f"{wire.base_url}{path}"
    message = OutboundMessage("dingtalk", "session", url, "已记录：瑞泉中学共同体 86 分")
    record = wire.send(message, dedupe_key="reply:m1")
    expected = {
        "msgtype": "text",
        "text": {"content": "已记录：瑞泉中学共同体 86 分"},
        "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
        "msgUuid": msg_uuid("reply:m1"),
    }
    assert (record.api, record.target, record.body) == ("session", "sess-1", expected)
    request = wire.last_request(path)
    assert str(request.url) == url
    assert request.content == compact(expected)


def test_every_path_was_accepted_without_a_refusal(wire: Wire) -> None:
    for message in (
        OutboundMessage("wecom", "group", "ruiquan", "a", mentions=(SHENYI,)),
        OutboundMessage("wecom", "group", "leaders", "b", markdown=True),
        OutboundMessage("wecom", "person", "liangfei", "c"),
        OutboundMessage("dingtalk", "group", "yuhong", "d", mentions=(NO_WECOM,)),
        OutboundMessage("dingtalk", "group", "dingapp", "e"),
        OutboundMessage("dingtalk", "person", "ding-liangfei", "f"),
    ):
        wire.send(message, dedupe_key=message.text)
    assert {r.status for r in wire.state.attempts()} == {"ok"}
