"""Senders: golden requests, mention rendering, error mapping, token caching, split_text.

HTTP senders are driven through ``httpx.MockTransport`` (no sockets at all). The WeCom app
sender goes through wechatpy and ``requests``, so it talks to a small fake WeCom served by
uvicorn on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.clock import FakeClock
from bot.config import Settings, settings_from_mapping
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.platforms.dingtalk.app_sender import DingTalkApp, DingTalkAppSender, DingTalkTokenCache
from bot.platforms.dingtalk.render import msg_uuid
from bot.platforms.dingtalk.robot_sender import DingTalkRobotSender, DingTalkSessionSender
from bot.platforms.router import build_router
from bot.platforms.wecom.app_sender import WeComAppSender
from bot.platforms.wecom.webhook_sender import WeComWebhookSender
from bot.senders import LIMITS, max_text_bytes
from handlers.messages import Mention, OutboundMessage
from handlers.text import split_text, utf8_len

WECOM_BASE = "http://wecom.test"
DING_OAPI = "http://oapi.ding.test"
DING_API = "http://api.ding.test"
START = datetime.fromtimestamp(1_700_000_000, UTC)
SIGN = "1hLl2KkRX3rps9FaitIUwaac%2BCtAFEaP345jvdrTL7c%3D"
SESSION_URL = f"{DING_OAPI}/robot/sendBySession?session=abc123"

ZHANG = Mention("张三", wecom_userid="zhangsan", dingtalk_userid="ding-zs", mobile="13800000001")
LI = Mention("李四", mobile="13800000002")
WANG = Mention("王五", dingtalk_userid="ding-ww")


# ------------------------------------------------------------------------ fakes and fixtures

Answer = tuple[int, Any] | Exception


class FakeHttp:
    """Records every request and answers from per-path scripts, else a success."""

    DEFAULTS: ClassVar[dict[str, Any]] = {
        "/v1.0/oauth2/accessToken": {"accessToken": "ding-token", "expireIn": 7200},
        "/v1.0/robot/groupMessages/send": {"processQueryKey": "q1"},
        "/v1.0/robot/oToMessages/batchSend": {
            "processQueryKey": "q2",
            "invalidStaffIdList": [],
            "flowControlledStaffIdList": [],
        },
    }

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.scripts: dict[str, list[Answer]] = {}

    def script(self, path: str, *answers: Answer) -> None:
        self.scripts.setdefault(path, []).extend(answers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.scripts.get(request.url.path)
        answer: Answer = queue.pop(0) if queue else (200, self._default(request.url.path))
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    def _default(self, path: str) -> Any:
        return self.DEFAULTS.get(path, {"errcode": 0, "errmsg": "ok"})

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content.decode("utf-8"))


@pytest.fixture
def fake() -> FakeHttp:
    return FakeHttp()


@pytest.fixture
def http(fake: FakeHttp) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(fake.handler)) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def settings() -> Settings:
    return settings_from_mapping(
        {
            "wecom": {
                "corp_id": "ww-corp",
                "secret": "wecom-secret",
                "agent_id": 1000002,
                "api_base": WECOM_BASE,
            },
            "dingtalk": {
                "app_key": "ding-app",
                "app_secret": "ding-app-secret",
                "robot_code": "ding-robot",
                "api_base": DING_API,
                "oapi_base": DING_OAPI,
            },
            "groups": [
                {
                    "key": "wx",
                    "platform": "wecom",
                    "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-1",
                },
                {"key": "wx-bare", "platform": "wecom", "webhook": "KEY-2"},
                {"key": "wx-chat-only", "platform": "wecom", "chat_id": "wrk-chat"},
                {
                    "key": "dd",
                    "platform": "dingtalk",
                    "webhook": "https://oapi.dingtalk.com/robot/send?access_token=TOKEN-1",
                    "secret": "SEC000test",
                },
                {"key": "dd-bare", "platform": "dingtalk", "webhook": "TOKEN-2"},
                {"key": "dd-app", "platform": "dingtalk", "chat_id": "cid-xyz=="},
            ],
        }
    )


def msg(
    text: str = "明天 9:00 论坛开始",
    *,
    platform: str = "wecom",
    kind: str = "group",
    target: str = "wx",
    markdown: bool = False,
    title: str = "",
    mentions: tuple[Mention, ...] = (),
) -> OutboundMessage:
    return OutboundMessage(
        platform=platform,  # type: ignore[arg-type]
        target_kind=kind,  # type: ignore[arg-type]
        target=target,
        text=text,
        title=title,
        markdown=markdown,
        mentions=mentions,
    )


def ding_robot(http: httpx.Client, clock: FakeClock, webhook: str = "TOKEN-1") -> Any:
    return DingTalkRobotSender(
        http=http, clock=clock, oapi_base=DING_OAPI, webhook=webhook, secret="SEC000test"
    )


DING_APP = DingTalkApp(
    api_base=DING_API, app_key="ding-app", app_secret="ding-app-secret", robot_code="ding-robot"
)


# ------------------------------------------------------------------------ WeCom group robot


def test_wecom_webhook_text_golden_request(fake: FakeHttp, http: httpx.Client) -> None:
    router = build_router(settings(), http=http, clock=FakeClock(START))
    router.send(msg(mentions=(ZHANG, LI)), dedupe_key="k1")

    (request,) = fake.requests
    assert request.method == "POST"
    # The configured full URL points at qyapi; the request still goes to api_base.
    assert str(request.url) == f"{WECOM_BASE}/cgi-bin/webhook/send?key=KEY-1"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert body_of(request) == {
        "msgtype": "text",
        "text": {
            "content": "明天 9:00 论坛开始",
            "mentioned_list": ["zhangsan"],
            "mentioned_mobile_list": ["13800000002"],
        },
    }
    # Sent as raw UTF-8, not \\u escapes: the byte limits are measured on this.
    assert "明天".encode() in request.content


def test_wecom_webhook_text_without_mentions_omits_lists(
    fake: FakeHttp, http: httpx.Client
) -> None:
    WeComWebhookSender(http=http, api_base=WECOM_BASE, webhook="KEY-2").send(
        msg("你好"), dedupe_key="k"
    )
    assert body_of(fake.requests[0]) == {"msgtype": "text", "text": {"content": "你好"}}
    assert fake.requests[0].url.params["key"] == "KEY-2"


def test_wecom_webhook_markdown_golden_body(fake: FakeHttp, http: httpx.Client) -> None:
    sender = WeComWebhookSender(http=http, api_base=WECOM_BASE + "/", webhook="KEY-2")
    sender.send(msg("## 提醒\n请评委入场", markdown=True, mentions=(ZHANG, LI)), dedupe_key="k")
    (request,) = fake.requests
    assert request.url.path == "/cgi-bin/webhook/send"
    # LI has no userid: markdown cannot mention by mobile, so only <@zhangsan>.
    assert body_of(request) == {
        "msgtype": "markdown",
        "markdown": {"content": "## 提醒\n请评委入场\n<@zhangsan>"},
    }


def test_wecom_webhook_markdown_mentions_share_one_line(fake: FakeHttp, http: httpx.Client) -> None:
    other = Mention("赵六", wecom_userid="zhaoliu")
    sender = WeComWebhookSender(http=http, api_base=WECOM_BASE, webhook="KEY-2")
    sender.send(msg("**注意**", markdown=True, mentions=(ZHANG, other, ZHANG)), dedupe_key="k")
    assert body_of(fake.requests[0])["markdown"]["content"] == "**注意**\n<@zhangsan> <@zhaoliu>"


# ------------------------------------------------------------------------ DingTalk custom robot


def test_dingtalk_robot_text_golden_request(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    router = build_router(settings(), http=http, clock=clock)
    router.send(
        msg(
            "请 @13800000001 尽快提交", platform="dingtalk", target="dd", mentions=(ZHANG, LI, WANG)
        ),
        dedupe_key="forum-f1:eve:g-ding",
    )
    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == (
        f"{DING_OAPI}/robot/send?access_token=TOKEN-1&timestamp=1700000000000&sign={SIGN}"
    )
    raw_query = request.url.query.decode()
    assert f"sign={SIGN}" in raw_query
    assert "+" not in raw_query  # a raw "+" would reach DingTalk as a space
    assert body_of(request) == {
        "msgtype": "text",
        # ZHANG's mobile is already in the text; LI by mobile, WANG (no mobile) by userid.
        "text": {"content": "请 @13800000001 尽快提交 @13800000002 @ding-ww"},
        "at": {
            "atMobiles": ["13800000001", "13800000002"],
            "atUserIds": ["ding-zs", "ding-ww"],
            "isAtAll": False,
        },
        "msgUuid": "bcbb3098-7c8a-5aaf-afb3-87c48010995b",
    }


def test_dingtalk_robot_markdown_golden_body(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    sender = ding_robot(http, clock)
    sender.send(
        msg("### 结果\n第一名：一中", platform="dingtalk", markdown=True, title="论坛结果"),
        dedupe_key="row-7",
    )
    sender.send(
        msg("### 结果公布\n第一名：一中", platform="dingtalk", markdown=True, mentions=(LI,)),
        dedupe_key="row-7",
    )
    first, second = (body_of(r) for r in fake.requests)
    assert first == {
        "msgtype": "markdown",
        "markdown": {"title": "论坛结果", "text": "### 结果\n第一名：一中"},
        "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
        "msgUuid": "fb134ed6-7206-5f92-89f8-75359d296b53",
    }
    assert second["markdown"] == {
        "title": "结果公布",  # no title: the first line without its heading marks
        "text": "### 结果公布\n第一名：一中 @13800000002",
    }
    assert second["at"]["atMobiles"] == ["13800000002"]


def test_dingtalk_robot_signs_every_request(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    sender = ding_robot(http, clock)
    sender.send(msg(platform="dingtalk"), dedupe_key="a")
    clock.advance(timedelta(hours=2))
    sender.send(msg(platform="dingtalk"), dedupe_key="b")
    first, second = (r.url.params for r in fake.requests)
    assert first["timestamp"] == "1700000000000"
    assert second["timestamp"] == "1700007200000"
    assert first["sign"] != second["sign"]


def test_dingtalk_robot_without_secret_sends_unsigned(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    build_router(settings(), http=http, clock=clock).send(
        msg(platform="dingtalk", target="dd-bare"), dedupe_key="k"
    )
    assert str(fake.requests[0].url) == f"{DING_OAPI}/robot/send?access_token=TOKEN-2"


def test_msg_uuid_is_stable_per_dedupe_key(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    sender = ding_robot(http, clock)
    for key in ("row-1", "row-1", "row-2"):
        sender.send(msg(platform="dingtalk"), dedupe_key=key)
        clock.advance(61)
    uuids = [body_of(r)["msgUuid"] for r in fake.requests]
    assert uuids[0] == uuids[1] == msg_uuid("row-1")
    assert uuids[2] == msg_uuid("row-2") != uuids[0]


# ------------------------------------------------------------------------ DingTalk session


def test_session_webhook_posts_to_the_target_as_is(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    router = build_router(settings(), http=http, clock=clock)
    message = msg("收到", platform="dingtalk", kind="session", target=SESSION_URL)
    router.send(message, dedupe_key="s1")
    (request,) = fake.requests
    assert str(request.url) == SESSION_URL
    assert body_of(request) == {
        "msgtype": "text",
        "text": {"content": "收到"},
        "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
        "msgUuid": msg_uuid("s1"),
    }


def test_session_webhook_expired_is_permanent(fake: FakeHttp, http: httpx.Client) -> None:
    fake.script("/robot/sendBySession", (200, {"errcode": 300001, "errmsg": "session expired"}))
    sender = DingTalkSessionSender(http=http)
    with pytest.raises(PermanentDelivery, match="expired") as info:
        sender.send(msg(platform="dingtalk", kind="session", target=SESSION_URL), dedupe_key="k")
    assert info.value.code == 300001


# ------------------------------------------------------------------------ DingTalk app robot


def test_dingtalk_app_group_golden_requests(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    router = build_router(settings(), http=http, clock=clock)
    router.send(msg("评分已开放", platform="dingtalk", target="dd-app"), dedupe_key="k")
    token_request, send_request = fake.requests
    assert token_request.method == "POST"
    assert str(token_request.url) == f"{DING_API}/v1.0/oauth2/accessToken"
    assert body_of(token_request) == {"appKey": "ding-app", "appSecret": "ding-app-secret"}
    assert "x-acs-dingtalk-access-token" not in token_request.headers

    assert send_request.method == "POST"
    assert str(send_request.url) == f"{DING_API}/v1.0/robot/groupMessages/send"
    assert send_request.headers["x-acs-dingtalk-access-token"] == "ding-token"
    assert send_request.headers["content-type"] == "application/json; charset=utf-8"
    assert body_of(send_request) == {
        "msgKey": "sampleText",
        "msgParam": '{"content": "评分已开放"}',
        "openConversationId": "cid-xyz==",
        "robotCode": "ding-robot",
    }


def test_dingtalk_app_one_to_one_markdown_golden_body(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    router = build_router(settings(), http=http, clock=clock)
    message = msg("**请评分**", platform="dingtalk", kind="person", target="staff-1", markdown=True)
    router.send(message, dedupe_key="k")
    send_request = fake.requests[1]
    assert str(send_request.url) == f"{DING_API}/v1.0/robot/oToMessages/batchSend"
    body = body_of(send_request)
    assert body == {
        "msgKey": "sampleMarkdown",
        "msgParam": '{"title": "**请评分**", "text": "**请评分**"}',
        "userIds": ["staff-1"],
        "robotCode": "ding-robot",
    }
    assert json.loads(body["msgParam"]) == {"title": "**请评分**", "text": "**请评分**"}


def test_dingtalk_token_is_cached_until_five_minutes_before_expiry(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    fake.script(
        "/v1.0/oauth2/accessToken",
        (200, {"accessToken": "t1", "expireIn": 7200}),
        (200, {"accessToken": "t2", "expireIn": 7200}),
    )
    tokens = DingTalkTokenCache(http=http, clock=clock, app=DING_APP)
    group = DingTalkAppSender(http=http, tokens=tokens, app=DING_APP, open_conversation_id="c")
    person = DingTalkAppSender(http=http, tokens=tokens, app=DING_APP)
    for _ in range(3):
        group.send(msg(platform="dingtalk"), dedupe_key="k")
        person.send(msg(platform="dingtalk", kind="person", target="u"), dedupe_key="k")
    clock.advance(timedelta(seconds=7200 - 301))
    group.send(msg(platform="dingtalk"), dedupe_key="k")
    clock.advance(2)  # now within five minutes of expiry
    group.send(msg(platform="dingtalk"), dedupe_key="k")

    assert fake.paths().count("/v1.0/oauth2/accessToken") == 2
    sent_with = [
        r.headers["x-acs-dingtalk-access-token"]
        for r in fake.requests
        if r.url.path != "/v1.0/oauth2/accessToken"
    ]
    assert sent_with == ["t1"] * 7 + ["t2"]


def test_dingtalk_token_refused_is_fetched_again_once(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    fake.script(
        "/v1.0/oauth2/accessToken",
        (200, {"accessToken": "stale", "expireIn": 7200}),
        (200, {"accessToken": "fresh", "expireIn": 7200}),
    )
    fake.script(
        "/v1.0/robot/groupMessages/send",
        (401, {"code": "InvalidAuthentication", "message": "不合法的access_token"}),
    )
    tokens = DingTalkTokenCache(http=http, clock=clock, app=DING_APP)
    sender = DingTalkAppSender(http=http, tokens=tokens, app=DING_APP, open_conversation_id="c")
    sender.send(msg(platform="dingtalk"), dedupe_key="k")
    sends = [r for r in fake.requests if r.url.path == "/v1.0/robot/groupMessages/send"]
    assert [r.headers["x-acs-dingtalk-access-token"] for r in sends] == ["stale", "fresh"]


DING_APP_ERRORS = [
    pytest.param(429, {"code": "Throttling"}, RetryableDelivery, 60.0, id="http-429"),
    pytest.param(
        403, {"code": "Forbidden.AccessDenied.QpsLimitForApi"}, RetryableDelivery, 60.0, id="qps"
    ),
    pytest.param(500, {"code": "InternalError"}, RetryableDelivery, 0.0, id="http-500"),
    pytest.param(503, b"<html>bad gateway</html>", RetryableDelivery, 0.0, id="http-503-html"),
    pytest.param(
        400, {"code": "invalid.openConversationId"}, PermanentDelivery, None, id="bad-conversation"
    ),
    pytest.param(400, {"code": "group.disbanded"}, PermanentDelivery, None, id="group-disbanded"),
    pytest.param(
        403,
        {"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied"},
        PermanentDelivery,
        None,
        id="no-permission",
    ),
    pytest.param(
        401, {"code": "InvalidAuthentication"}, PermanentDelivery, None, id="token-refused-twice"
    ),
]


@pytest.mark.parametrize(("status", "body", "error", "retry_after"), DING_APP_ERRORS)
def test_dingtalk_app_error_mapping(
    fake: FakeHttp,
    http: httpx.Client,
    clock: FakeClock,
    status: int,
    body: Any,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    fake.script("/v1.0/robot/groupMessages/send", (status, body), (status, body))
    tokens = DingTalkTokenCache(http=http, clock=clock, app=DING_APP)
    sender = DingTalkAppSender(http=http, tokens=tokens, app=DING_APP, open_conversation_id="c")
    with pytest.raises(error) as info:
        sender.send(msg(platform="dingtalk"), dedupe_key="k")
    if retry_after is not None:
        assert isinstance(info.value, RetryableDelivery)
        assert info.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("field", "error"),
    [
        pytest.param("invalidStaffIdList", PermanentDelivery, id="invalid-staff"),
        pytest.param("flowControlledStaffIdList", RetryableDelivery, id="flow-controlled"),
    ],
)
def test_dingtalk_one_to_one_skipped_user(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock, field: str, error: type[Exception]
) -> None:
    fake.script("/v1.0/robot/oToMessages/batchSend", (200, {"processQueryKey": "q", field: ["u"]}))
    tokens = DingTalkTokenCache(http=http, clock=clock, app=DING_APP)
    sender = DingTalkAppSender(http=http, tokens=tokens, app=DING_APP)
    with pytest.raises(error):
        sender.send(msg(platform="dingtalk", kind="person", target="u"), dedupe_key="k")


def test_dingtalk_token_bad_credentials_is_permanent(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    fake.script("/v1.0/oauth2/accessToken", (400, {"code": "invalidClientSecret"}))
    tokens = DingTalkTokenCache(http=http, clock=clock, app=DING_APP)
    sender = DingTalkAppSender(http=http, tokens=tokens, app=DING_APP, open_conversation_id="c")
    with pytest.raises(PermanentDelivery, match="invalidClientSecret"):
        sender.send(msg(platform="dingtalk"), dedupe_key="k")


# ------------------------------------------------------------------------ errcode table

WEBHOOK_ERRCODES = [
    pytest.param(45009, RetryableDelivery, 60.0, id="45009-wecom-throttled"),
    pytest.param(410100, RetryableDelivery, 600.0, id="410100-dingtalk-throttled"),
    pytest.param(130101, RetryableDelivery, 600.0, id="130101-dingtalk-throttled"),
    pytest.param(-1, RetryableDelivery, 0.0, id="minus1-busy"),
    pytest.param(93000, PermanentDelivery, None, id="93000-bad-key"),
    pytest.param(310000, PermanentDelivery, None, id="310000-security"),
    pytest.param(400101, PermanentDelivery, None, id="400101-bad-token"),
    pytest.param(400013, PermanentDelivery, None, id="400013-group-dissolved"),
    pytest.param(300001, PermanentDelivery, None, id="300001-token-missing"),
    pytest.param(300005, PermanentDelivery, None, id="300005-session-expired"),
    pytest.param(40008, PermanentDelivery, None, id="40008-bad-msgtype"),
    pytest.param(44004, PermanentDelivery, None, id="44004-empty"),
    pytest.param(45002, PermanentDelivery, None, id="45002-too-long"),
    pytest.param(460101, PermanentDelivery, None, id="460101-too-long"),
    pytest.param(12345, PermanentDelivery, None, id="unknown-errcode"),
    pytest.param("93000", PermanentDelivery, None, id="errcode-as-string"),
]

SenderFactory = Callable[[httpx.Client, FakeClock], Any]
WEBHOOK_SENDERS = [
    pytest.param(
        (lambda http, clock: WeComWebhookSender(http=http, api_base=WECOM_BASE, webhook="K")),
        "wecom",
        id="wecom-webhook",
    ),
    pytest.param(ding_robot, "dingtalk", id="dingtalk-robot"),
    pytest.param(
        lambda http, clock: DingTalkSessionSender(http=http), "dingtalk", id="dingtalk-session"
    ),
]


def webhook_message(platform: str) -> OutboundMessage:
    kind = "session" if platform == "dingtalk" else "group"
    return msg(platform=platform, kind=kind, target=SESSION_URL)


@pytest.mark.parametrize(("make", "platform"), WEBHOOK_SENDERS)
@pytest.mark.parametrize(("code", "error", "retry_after"), WEBHOOK_ERRCODES)
def test_errcode_mapping(
    fake: FakeHttp,
    http: httpx.Client,
    clock: FakeClock,
    make: SenderFactory,
    platform: str,
    code: int | str,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    for path in ("/cgi-bin/webhook/send", "/robot/send", "/robot/sendBySession"):
        fake.script(path, (200, {"errcode": code, "errmsg": "something"}))
    with pytest.raises(error) as info:
        make(http, clock).send(webhook_message(platform), dedupe_key="k")
    assert getattr(info.value, "code", None) == int(code)
    if retry_after is not None:
        assert isinstance(info.value, RetryableDelivery)
        assert info.value.retry_after == retry_after
    assert len(fake.requests) == 1  # a sender never retries on its own


TRANSPORT_FAILURES = [
    pytest.param((500, {"errcode": 0}), RetryableDelivery, 0.0, id="http-500"),
    pytest.param((503, b"Service Unavailable"), RetryableDelivery, 0.0, id="http-503"),
    pytest.param(httpx.ReadTimeout("slow"), RetryableDelivery, 0.0, id="timeout"),
    pytest.param(httpx.ConnectTimeout("slow"), RetryableDelivery, 0.0, id="connect-timeout"),
    pytest.param(httpx.ConnectError("refused"), RetryableDelivery, 0.0, id="connect-error"),
    pytest.param(httpx.RemoteProtocolError("reset"), RetryableDelivery, 0.0, id="protocol"),
    pytest.param((200, b"<html>proxy</html>"), RetryableDelivery, 0.0, id="200-not-json"),
    pytest.param((404, b"not found"), PermanentDelivery, None, id="http-404"),
    pytest.param((403, {"errcode": 0}), PermanentDelivery, None, id="http-403"),
]


@pytest.mark.parametrize(("make", "platform"), WEBHOOK_SENDERS)
@pytest.mark.parametrize(("answer", "error", "retry_after"), TRANSPORT_FAILURES)
def test_transport_failure_mapping(
    fake: FakeHttp,
    http: httpx.Client,
    clock: FakeClock,
    make: SenderFactory,
    platform: str,
    answer: Answer,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    for path in ("/cgi-bin/webhook/send", "/robot/send", "/robot/sendBySession"):
        fake.script(path, answer)
    with pytest.raises(error) as info:
        make(http, clock).send(webhook_message(platform), dedupe_key="k")
    if retry_after is not None:
        assert isinstance(info.value, RetryableDelivery)
        assert info.value.retry_after == retry_after


def test_http_429_honours_retry_after(fake: FakeHttp, http: httpx.Client) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "30"}, text="slow down")

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        sender = WeComWebhookSender(http=client, api_base=WECOM_BASE, webhook="K")
        with pytest.raises(RetryableDelivery) as info:
            sender.send(msg(), dedupe_key="k")
    assert info.value.retry_after == 30.0


# ------------------------------------------------------------------------ size limits at send


@pytest.mark.parametrize(
    "make_and_message",
    [
        pytest.param(
            (
                lambda h, c: WeComWebhookSender(http=h, api_base=WECOM_BASE, webhook="K"),
                msg("字" * 683),  # 2049 bytes
            ),
            id="wecom-text",
        ),
        pytest.param(
            (
                lambda h, c: WeComWebhookSender(http=h, api_base=WECOM_BASE, webhook="K"),
                msg("a" * 4090, markdown=True, mentions=(ZHANG,)),  # 4090 + "\n<@zhangsan>"
            ),
            id="wecom-markdown-with-mention",
        ),
        pytest.param(
            (ding_robot, msg("字" * 6667, platform="dingtalk")),
            id="dingtalk-robot-body",
        ),
        pytest.param(
            (
                lambda h, c: DingTalkAppSender(
                    http=h,
                    tokens=DingTalkTokenCache(http=h, clock=c, app=DING_APP),
                    app=DING_APP,
                    open_conversation_id="c",
                ),
                msg("字" * 6667, platform="dingtalk"),
            ),
            id="dingtalk-app-body",
        ),
        pytest.param(
            (
                lambda h, c: WeComWebhookSender(http=h, api_base=WECOM_BASE, webhook="K"),
                msg(" \n "),
            ),
            id="wecom-blank",
        ),
    ],
)
def test_over_long_or_blank_message_is_refused_without_a_request(
    fake: FakeHttp,
    http: httpx.Client,
    clock: FakeClock,
    make_and_message: tuple[SenderFactory, OutboundMessage],
) -> None:
    make, message = make_and_message
    with pytest.raises(PermanentDelivery):
        make(http, clock).send(message, dedupe_key="k")
    assert fake.requests == []


def test_messages_split_to_max_text_bytes_are_accepted(
    fake: FakeHttp, http: httpx.Client, clock: FakeClock
) -> None:
    mentions = (ZHANG, LI, WANG) * 3
    cases = [
        (WeComWebhookSender(http=http, api_base=WECOM_BASE, webhook="K"), "wecom", False),
        (WeComWebhookSender(http=http, api_base=WECOM_BASE, webhook="K"), "wecom", True),
        (ding_robot(http, clock), "dingtalk", False),
        (ding_robot(http, clock), "dingtalk", True),
    ]
    text = "\n".join(f'第{i}行：这是一段用来测试拆分的中文文字 "quoted"' for i in range(2000))
    for sender, platform, markdown in cases:
        for part in split_text(text, max_text_bytes(platform, markdown)):
            message = msg(part, platform=platform, markdown=markdown, mentions=mentions)
            sender.send(message, dedupe_key="k")
    assert fake.requests  # every part went out; none raised


# ------------------------------------------------------------------------ router


def _digest(secret: str) -> str:
    return sha256(secret.encode()).hexdigest()[:16]


def test_router_rate_keys() -> None:
    with httpx.Client(transport=httpx.MockTransport(FakeHttp().handler)) as client:
        router = build_router(settings(), http=client, clock=FakeClock(START))
    cases = [
        (msg(target="wx"), f"wecom-webhook:{_digest('KEY-1')}"),
        (msg(target="wx-bare"), f"wecom-webhook:{_digest('KEY-2')}"),
        (msg(platform="dingtalk", target="dd"), f"dingtalk-robot:{_digest('TOKEN-1')}"),
        (msg(platform="dingtalk", target="dd-bare"), f"dingtalk-robot:{_digest('TOKEN-2')}"),
        (msg(platform="dingtalk", target="dd-app"), "dingtalk-app:ding-robot"),
        (msg(kind="person", target="zhangsan"), "wecom-app:zhangsan"),
        (msg(platform="dingtalk", kind="person", target="s1"), "dingtalk-app:ding-robot"),
        (
            msg(platform="dingtalk", kind="session", target=SESSION_URL),
            f"session:oapi.ding.test/robot/sendBySession:{_digest('abc123')}",
        ),
        (msg(target="nope"), "unroutable:wecom:group:nope"),
        (
            msg(kind="session", target=SESSION_URL),
            f"unroutable:wecom:session:{_digest(SESSION_URL)}",
        ),
    ]
    assert [router.rate_key(m) for m, _ in cases] == [key for _, key in cases]
    # Rate keys are stored and logged: no robot key, token or session in them.
    for key in (router.rate_key(m) for m, _ in cases):
        assert not any(secret in key for secret in ("abc123", "TOKEN", "KEY-")), key


def test_each_dingtalk_session_has_its_own_rate_key_without_the_session_in_it() -> None:
    def key(url: str) -> str:
        with httpx.Client() as client:
            sender = DingTalkSessionSender(http=client)
            return sender.rate_key(msg(platform="dingtalk", kind="session", target=url))

    base = f"{DING_OAPI}/robot/sendBySession"
    first, second = key(f"{base}?session=s3cr3t-one"), key(f"{base}?session=s3cr3t-two")
    assert first != second
    assert key(f"{base}?session=s3cr3t-one&timestamp=1") == first  # the session, nothing else
    assert "s3cr3t" not in first + second  # rate keys are logged
    assert first.startswith("session:oapi.ding.test/robot/sendBySession:")


def test_rate_key_fits_the_outbox_column() -> None:
    long_url = "https://oapi.dingtalk.com/" + "x" * 300
    with httpx.Client() as client:
        key = DingTalkSessionSender(http=client).rate_key(
            msg(platform="dingtalk", kind="session", target=long_url)
        )
    assert key.startswith("session:sha256:")
    assert len(key) <= 191


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        pytest.param(msg(target="nope"), "unknown group 'nope'", id="unknown-group"),
        pytest.param(msg(platform="dingtalk", target="wx"), "is on wecom", id="platform-mismatch"),
        pytest.param(msg(target="wx-chat-only"), "no webhook", id="wecom-group-without-webhook"),
        pytest.param(msg(kind="session", target=SESSION_URL), "no way", id="wecom-session"),
        pytest.param(msg(kind="channel", target="x"), "no way", id="unknown-kind"),
        pytest.param(
            msg(platform="dingtalk", kind="session", target="not a url"),
            "not a URL",
            id="session-not-a-url",
        ),
    ],
)
def test_router_refuses_what_it_cannot_route(
    fake: FakeHttp, http: httpx.Client, message: OutboundMessage, reason: str
) -> None:
    router = build_router(settings(), http=http, clock=FakeClock(START))
    with pytest.raises(PermanentDelivery, match=reason):
        router.send(message, dedupe_key="k")
    assert fake.requests == []


def test_router_without_app_credentials_refuses_person_messages(
    fake: FakeHttp, http: httpx.Client
) -> None:
    bare = settings_from_mapping(
        {"groups": [{"key": "dd-app", "platform": "dingtalk", "chat_id": "cid"}]}
    )
    router = build_router(bare, http=http, clock=FakeClock(START))
    for message, reason in [
        (msg(kind="person", target="zhangsan"), "wecom app"),
        (msg(platform="dingtalk", kind="person", target="s"), "dingtalk app robot"),
        (msg(platform="dingtalk", target="dd-app"), "webhook or chat_id"),
    ]:
        with pytest.raises(PermanentDelivery, match=reason):
            router.send(message, dedupe_key="k")
    assert fake.requests == []


# ------------------------------------------------------------------------ WeCom app (wechatpy)


class FakeWeCom:
    """Just enough of qyapi for ``gettoken`` and ``message/send``, with real token checks."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.sends: list[tuple[dict[str, list[str]], Any]] = []
        self.gettoken_queries: list[dict[str, list[str]]] = []
        self.send_answers: list[tuple[int, Any]] = []
        self.token_answers: list[tuple[int, Any]] = []

    def revoke_tokens(self) -> None:
        self.valid.clear()

    async def gettoken(self, request: Request) -> Response:
        self.gettoken_queries.append(parse_qs(request.url.query))
        if self.token_answers:
            status, body = self.token_answers.pop(0)
            return JSONResponse(body, status)
        token = f"tok-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid.add(token)
        return JSONResponse(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        )

    async def send(self, request: Request) -> Response:
        query = parse_qs(request.url.query)
        self.sends.append((query, json.loads(await request.body())))
        if query.get("access_token", [""])[0] not in self.valid:
            return JSONResponse({"errcode": 40014, "errmsg": "invalid access_token"})
        if self.send_answers:
            status, body = self.send_answers.pop(0)
            if isinstance(body, bytes):
                return Response(body, status)
            return JSONResponse(body, status)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": "m1"})


class LoopbackServer:
    def __init__(self) -> None:
        self.fake = FakeWeCom()

        async def gettoken(request: Request) -> Response:
            return await self.fake.gettoken(request)

        async def send(request: Request) -> Response:
            return await self.fake.send(request)

        app = Starlette(
            routes=[
                Route("/cgi-bin/gettoken", gettoken),
                Route("/cgi-bin/message/send", send, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:  # waiting for a socket, not for time to pass
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake WeCom server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def base(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def wecom(loopback: LoopbackServer) -> FakeWeCom:
    loopback.fake = FakeWeCom()
    return loopback.fake


def wecom_app(base: str, clock: FakeClock) -> WeComAppSender:
    return WeComAppSender(
        corp_id="ww-corp",
        secret="wecom-secret",
        agent_id="1000002",
        api_base=base,
        clock=clock,
        timeout=5.0,
    )


def test_wecom_app_golden_request(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock
) -> None:
    sender = wecom_app(loopback.base, clock)
    sender.send(msg("请于今天提交材料", kind="person", target="zhangsan"), dedupe_key="k")
    sender.send(msg("**提醒**", kind="person", target="lisi", markdown=True), dedupe_key="k")

    assert wecom.gettoken_queries == [{"corpid": ["ww-corp"], "corpsecret": ["wecom-secret"]}]
    (q1, text_body), (q2, md_body) = wecom.sends
    assert q1 == q2 == {"access_token": ["tok-1"]}
    assert text_body == {
        "touser": "zhangsan",
        "toparty": "",
        "totag": "",
        "agentid": 1000002,
        "msgtype": "text",
        "text": {"content": "请于今天提交材料"},
        "enable_duplicate_check": 1,
        "duplicate_check_interval": 14400,
    }
    assert md_body == {
        "touser": "lisi",
        "toparty": "",
        "totag": "",
        "agentid": 1000002,
        "msgtype": "markdown",
        "markdown": {"content": "**提醒**"},
        "enable_duplicate_check": 1,
        "duplicate_check_interval": 14400,
    }


def test_wecom_app_via_router_uses_configured_api_base(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock
) -> None:
    config = settings().model_copy(
        update={"wecom": settings().wecom.model_copy(update={"api_base": loopback.base})}
    )
    with httpx.Client(transport=httpx.MockTransport(FakeHttp().handler)) as client:
        router = build_router(config, http=client, clock=clock)
        router.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    assert len(wecom.sends) == 1
    assert len(wecom.issued) == 1


def test_wecom_app_token_is_cached_and_refreshed_on_expiry(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock
) -> None:
    sender = wecom_app(loopback.base, clock)
    for _ in range(3):
        sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    assert wecom.issued == ["tok-1"]
    clock.advance(7200 - 299)  # inside the five-minute margin
    sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    assert wecom.issued == ["tok-1", "tok-2"]
    assert [q["access_token"] for q, _ in wecom.sends] == [["tok-1"]] * 3 + [["tok-2"]]


@pytest.mark.parametrize("code", [40014, 42001])
def test_wecom_app_refetches_token_once_when_refused(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock, code: int
) -> None:
    sender = wecom_app(loopback.base, clock)
    sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    wecom.send_answers.append((200, {"errcode": code, "errmsg": "token"}))
    sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    assert wecom.issued == ["tok-1", "tok-2"]
    assert [q["access_token"] for q, _ in wecom.sends] == [["tok-1"], ["tok-1"], ["tok-2"]]


def test_wecom_app_revoked_token_is_replaced(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock
) -> None:
    sender = wecom_app(loopback.base, clock)
    sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    wecom.revoke_tokens()
    sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    assert wecom.issued == ["tok-1", "tok-2"]


def test_wecom_app_token_refused_twice_is_retryable_not_endless(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock
) -> None:
    sender = wecom_app(loopback.base, clock)
    wecom.send_answers.extend([(200, {"errcode": 42001, "errmsg": "expired"})] * 5)
    with pytest.raises(RetryableDelivery) as info:
        sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    assert info.value.code == 42001
    assert len(wecom.sends) == 2


WECOM_APP_ERRORS = [
    pytest.param((200, {"errcode": 45009, "errmsg": "freq"}), RetryableDelivery, 60.0, id="45009"),
    pytest.param((200, {"errcode": -1, "errmsg": "busy"}), RetryableDelivery, 0.0, id="busy"),
    pytest.param((200, {"errcode": 81013, "errmsg": "all invalid"}), PermanentDelivery, None,
                 id="81013-no-recipient"),
    pytest.param((200, {"errcode": 44004, "errmsg": "empty"}), PermanentDelivery, None,
                 id="44004-empty"),
    pytest.param((200, {"errcode": 0, "errmsg": "ok", "invaliduser": "zhangsan"}),
                 PermanentDelivery, None, id="invaliduser"),
    pytest.param((500, b"oops"), RetryableDelivery, 0.0, id="http-500"),
    pytest.param((503, b"oops"), RetryableDelivery, 0.0, id="http-503"),
    pytest.param((404, b"nope"), PermanentDelivery, None, id="http-404"),
    pytest.param((200, b"<html>proxy</html>"), RetryableDelivery, 0.0, id="not-json"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "error", "retry_after"), WECOM_APP_ERRORS)
def test_wecom_app_error_mapping(
    loopback: LoopbackServer,
    wecom: FakeWeCom,
    clock: FakeClock,
    answer: tuple[int, Any],
    error: type[Exception],
    retry_after: float | None,
) -> None:
    wecom.send_answers.append(answer)
    with pytest.raises(error) as info:
        wecom_app(loopback.base, clock).send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    if retry_after is not None:
        assert isinstance(info.value, RetryableDelivery)
        assert info.value.retry_after == retry_after


def test_wecom_app_bad_secret_is_permanent(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock
) -> None:
    wecom.token_answers.append((200, {"errcode": 40001, "errmsg": "invalid credential"}))
    with pytest.raises(PermanentDelivery) as info:
        wecom_app(loopback.base, clock).send(msg(kind="person", target="zhangsan"), dedupe_key="k")
    assert info.value.code == 40001
    assert wecom.sends == []


def test_wecom_app_connection_refused_is_retryable(clock: FakeClock) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = wecom_app(f"http://127.0.0.1:{port}", clock)
    with pytest.raises(RetryableDelivery):
        sender.send(msg(kind="person", target="zhangsan"), dedupe_key="k")


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(msg("字" * 683, kind="person", target="zhangsan"), id="text-2049-bytes"),
        pytest.param(
            msg("a" * 2049, kind="person", target="zhangsan", markdown=True), id="markdown-2049"
        ),
        pytest.param(msg(kind="person", target="a|b"), id="multicast-target"),
        pytest.param(msg("", kind="person", target="zhangsan"), id="empty"),
    ],
)
def test_wecom_app_refuses_before_any_request(
    loopback: LoopbackServer, wecom: FakeWeCom, clock: FakeClock, message: OutboundMessage
) -> None:
    with pytest.raises(PermanentDelivery):
        wecom_app(loopback.base, clock).send(message, dedupe_key="k")
    assert wecom.sends == []
    assert wecom.issued == []


# ------------------------------------------------------------------------ limits and split_text


def test_limits_and_budgets() -> None:
    assert LIMITS["wecom_text"] == 2048
    assert LIMITS["wecom_markdown"] == 4096
    assert LIMITS["dingtalk"] == 20000
    assert max_text_bytes("wecom", False) == 2048
    assert max_text_bytes("wecom", True) < 4096
    assert max_text_bytes("wecom", True, target_kind="person") == 2048
    assert max_text_bytes("dingtalk", False) < 20000
    assert max_text_bytes("dingtalk", True) < 20000
    with pytest.raises(ValueError, match="platform"):
        max_text_bytes("slack", False)


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        pytest.param("", 10, [], id="empty"),
        pytest.param("abc", 10, ["abc"], id="fits"),
        pytest.param("aaaa\nbbbb\ncccc", 9, ["aaaa\nbbbb", "cccc"], id="packs-lines"),
        pytest.param("汉字汉字", 7, ["汉字", "汉字"], id="never-inside-a-character"),
        pytest.param("ab\n汉字汉字\ncd", 7, ["ab", "汉字", "汉字", "cd"], id="long-line-by-chars"),
        pytest.param("aaaa\n\n\nbbbb", 6, ["aaaa", "\n\nbbbb"], id="blank-lines-go-forward"),
        pytest.param("aaaa\n\n", 4, ["aaaa", "\n\n"], id="trailing-blanks-over-long"),
        pytest.param("\n\n", 10, ["\n\n"], id="only-newlines"),
        pytest.param("😀😀", 4, ["😀", "😀"], id="four-byte-characters"),
    ],
)
def test_split_text_examples(text: str, limit: int, parts: list[str]) -> None:
    assert split_text(text, limit) == parts


def test_split_text_rejects_a_limit_below_one_character() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        split_text("abc", 3)


@given(text=st.text(max_size=600), limit=st.integers(min_value=4, max_value=120))
def test_split_text_parts_fit_and_lose_nothing(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < utf8_len(part) <= limit for part in parts)
    assert all(part for part in parts)
    # Only the newlines at the breaks may go; every other character survives, in order.
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert len(parts) <= utf8_len(text)


@given(data=st.data())
def test_split_text_roundtrips_when_no_line_is_over_long(data: st.DataObject) -> None:
    limit = data.draw(st.integers(min_value=40, max_value=400), label="limit")
    max_lines = 20
    # Each line (plus the blank lines that travel with it) stays within the limit.
    line = st.text(
        st.characters(exclude_characters="\n", exclude_categories=("Cs",)),
        max_size=(limit - max_lines) // 4,
    )
    lines = data.draw(st.lists(line, max_size=max_lines), label="lines")
    text = "\n".join(lines)
    parts = split_text(text, limit)
    assert "\n".join(parts) == text
    assert all(0 < utf8_len(part) <= limit for part in parts)


def test_a_mobile_that_prefixes_another_in_the_text_is_still_appended() -> None:
    from bot.platforms.dingtalk.render import dingtalk_text_with_ats

    short = Mention("甲", mobile="1380000000")
    # "@1380000000" appears only as the start of "@13800000001": 甲 must still be @-ed.
    assert dingtalk_text_with_ats("请 @13800000001 提交", [short]) == (
        "请 @13800000001 提交 @1380000000"
    )
    assert dingtalk_text_with_ats("请 @1380000000 提交", [short]) == "请 @1380000000 提交"
