"""The platform emulator: every rule and error code, faults, the loopback server, the players.

Rules are driven through Starlette's TestClient with a FakeClock that the tests move; only
the two server tests touch a real socket, and only the timeout test waits (≤ 0.3 s).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.devtools.emulator import EmulatorServer, EmulatorState, create_emulator_app
from bot.devtools.emulator.multipart import boundary_of, parse_multipart
from bot.devtools.emulator.players import (
    dingtalk_callback,
    send_inbound,
    send_inbound_async,
    wecom_app_callback,
    wecom_robot_callback,
    wecom_url_verification,
)
from bot.devtools.emulator.records import robot_access_token, webhook_key
from bot.errors import Forbidden
from bot.platforms.dingtalk.sign import dingtalk_sign, signed_robot_url, verify_dingtalk_request
from bot.platforms.dingtalk.wire import parse_message as parse_dingtalk
from bot.platforms.wecom.crypto import WeComCrypto
from bot.platforms.wecom.wire import (
    parse_app_envelope,
    parse_app_message,
    parse_robot_envelope,
    parse_robot_message,
    verify_url,
)

# 1700000000000 ms is PROTOCOLS §4's signature vector: with SEC000test its sign holds a "+".
START = datetime.fromtimestamp(1_700_000_000, UTC)
KEY = "wk-0001"
ROBOT, SECRET = "dt-0001", "SEC000test"
PLAIN_ROBOT = "dt-plain"
CORP, CORP_SECRET, AGENT = "ww5f3c8a1b2d4e6f70", "corp-secret", "1000002"
APP_KEY, APP_SECRET = "dingappkey", "dingappsecret"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def _state(clock: FakeClock) -> EmulatorState:
    state = EmulatorState(clock)
    state.add_wecom_webhook(KEY)
    state.add_dingtalk_robot(ROBOT, SECRET)
    state.add_dingtalk_robot(PLAIN_ROBOT, "")
    state.wecom_app(CORP, CORP_SECRET, AGENT)
    state.dingtalk_app(APP_KEY, APP_SECRET)
    return state


@pytest.fixture
def state(clock: FakeClock) -> EmulatorState:
    return _state(clock)


@pytest.fixture
def client(state: EmulatorState) -> Iterator[TestClient]:
    with TestClient(create_emulator_app(state)) as test_client:
        yield test_client


def text(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def webhook(client: TestClient, body: Any, key: str = KEY) -> dict[str, Any]:
    response = client.post(f"/cgi-bin/webhook/send?key={key}", json=body)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def robot(
    client: TestClient, clock: FakeClock, body: Any, token: str = ROBOT, secret: str = SECRET
) -> dict[str, Any]:
    response = client.post(signed_robot_url("", token, secret, clock.now()), json=body)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def statuses(state: EmulatorState, api: str) -> list[str]:
    return [r.status for r in state.attempts(api=api)]


# --- registries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123", "abc-123"),
        ("http://127.0.0.1:9/cgi-bin/webhook/send?debug=1&key=k2", "k2"),
        ("  bare-key ", "bare-key"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", ""),
    ],
    ids=["url", "url-second-param", "bare", "url-without-key"],
)
def test_webhook_key(value: str, expected: str) -> None:
    assert webhook_key(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://oapi.dingtalk.com/robot/send?access_token=tok1", "tok1"),
        ("tok2", "tok2"),
    ],
    ids=["url", "bare"],
)
def test_robot_access_token(value: str, expected: str) -> None:
    assert robot_access_token(value) == expected


def test_from_settings_registers_groups_and_apps(clock: FakeClock) -> None:
    settings = settings_from_mapping(
        {
            "wecom": {"corp_id": CORP, "secret": CORP_SECRET, "agent_id": 1000002},
            "dingtalk": {"app_key": APP_KEY, "app_secret": APP_SECRET},
            "groups": [
                {
                    "key": "w1",
                    "platform": "wecom",
                    "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY1",
                },
                {"key": "w2", "platform": "wecom", "webhook": "KEY2"},
                {
                    "key": "d1",
                    "platform": "dingtalk",
                    "webhook": "https://oapi.dingtalk.com/robot/send?access_token=TOK1",
                    "secret": "SECx",
                },
                {"key": "d2", "platform": "dingtalk", "webhook": "TOK2"},
                {"key": "nowhere", "platform": "wecom"},
            ],
        }
    )
    state = EmulatorState.from_settings(settings, clock)
    assert state.wecom_webhook_known("KEY1")
    assert state.wecom_webhook_known("KEY2")
    assert not state.wecom_webhook_known("")
    assert state.dingtalk_robot_secret("TOK1") == "SECx"
    assert state.dingtalk_robot_secret("TOK2") == ""
    assert state.dingtalk_robot_secret("TOK3") is None
    code, token, expires_in = state.issue_wecom_token(CORP, CORP_SECRET)
    assert (code, expires_in) == (0, 7200)
    app = state.check_wecom_token(token)[1]
    assert app is not None
    assert app.agent_id == "1000002"
    issued = state.issue_dingtalk_token(APP_KEY, APP_SECRET)
    assert issued is not None
    assert state.check_dingtalk_token(issued[0]) is not None


# --- WeCom group robot ------------------------------------------------------------------


def test_webhook_text_is_recorded(client: TestClient, state: EmulatorState) -> None:
    body = {"msgtype": "text", "text": {"content": "评分已汇总", "mentioned_list": ["@all"]}}
    assert webhook(client, body) == {"errcode": 0, "errmsg": "ok"}
    [message] = state.messages()
    assert (message.platform, message.api, message.target) == ("wecom", "webhook/send", KEY)
    assert message.body == body
    assert message.at == START
    assert message.status == "ok"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"msgtype": "voice_call", "voice_call": {}}, 40008),
        ({"text": {"content": "x"}}, 40008),
        (text(""), 44004),
        (text("   "), 44004),
        ({"msgtype": "text"}, 44004),
        (text("字" * 683), 45002),  # 2049 bytes
        ({"msgtype": "markdown", "markdown": {"content": "a" * 4097}}, 45002),
        ({"msgtype": "markdown_v2", "markdown_v2": {"content": "a" * 4097}}, 45002),
        ({"msgtype": "text", "text": {"content": "x", "mentioned_list": "bob"}}, 40058),
        ({"msgtype": "file", "file": {"media_id": "never-uploaded"}}, 40007),
        ({"msgtype": "news", "news": {"articles": []}}, 44004),
        (
            {"msgtype": "news", "news": {"articles": [{"title": "t", "url": "u"}] * 9}},
            40058,
        ),
        ({"msgtype": "template_card", "template_card": {}}, 40058),
        (
            {
                "msgtype": "image",
                "image": {
                    "base64": base64.b64encode(b"GIF89a").decode(),
                    "md5": hashlib.md5(b"GIF89a").hexdigest(),
                },
            },
            40009,
        ),
    ],
    ids=[
        "unknown-msgtype",
        "no-msgtype",
        "empty-text",
        "blank-text",
        "text-missing",
        "text-2049-bytes",
        "markdown-4097",
        "markdown-v2-4097",
        "mentions-not-a-list",
        "unknown-media",
        "news-empty",
        "news-9-articles",
        "card-without-type",
        "image-not-jpg-png",
    ],
)
def test_webhook_refusals(
    client: TestClient, state: EmulatorState, body: dict[str, Any], code: int
) -> None:
    answer = webhook(client, body)
    assert answer["errcode"] == code
    assert str(code) in answer["errmsg"]
    assert state.messages() == []
    assert statuses(state, "webhook/send") == [str(code)]


@pytest.mark.parametrize(
    "body",
    [
        text("字" * 682 + "ab"),  # exactly 2048 bytes
        {"msgtype": "markdown", "markdown": {"content": "a" * 4096}},
        {"msgtype": "markdown_v2", "markdown_v2": {"content": "| a |\n|---|\n| 1 |"}},
        {"msgtype": "news", "news": {"articles": [{"title": "t", "url": "https://x"}] * 8}},
        {"msgtype": "template_card", "template_card": {"card_type": "text_notice"}},
        {
            "msgtype": "image",
            "image": {
                "base64": base64.b64encode(b"\x89PNG\r\n\x1a\nrest").decode(),
                "md5": hashlib.md5(b"\x89PNG\r\n\x1a\nrest").hexdigest(),
            },
        },
    ],
    ids=["text-2048-bytes", "markdown-4096", "markdown-v2", "news-8", "template-card", "png"],
)
def test_webhook_accepts_every_type(
    client: TestClient, state: EmulatorState, body: dict[str, Any]
) -> None:
    assert webhook(client, body)["errcode"] == 0
    assert len(state.messages(api="webhook/send")) == 1


def test_webhook_unknown_key_and_bad_json(client: TestClient, state: EmulatorState) -> None:
    assert webhook(client, text("hi"), key="nope")["errcode"] == 93000
    response = client.post(f"/cgi-bin/webhook/send?key={KEY}", content=b"{not json")
    assert response.status_code == 200
    assert response.json()["errcode"] == 47001
    assert statuses(state, "webhook/send") == ["93000", "47001"]
    assert state.attempts()[1].body == {"_raw": "{not json"}


def test_webhook_21st_message_in_a_minute_is_refused(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    for i in range(20):
        assert webhook(client, text(f"m{i}"))["errcode"] == 0
    assert webhook(client, text("m20"))["errcode"] == 45009
    clock.advance(59)
    assert webhook(client, text("m21"))["errcode"] == 45009
    clock.advance(1)  # 60 s after the first twenty: the window is empty again
    assert webhook(client, text("m22"))["errcode"] == 0
    assert len(state.messages(api="webhook/send")) == 21
    assert statuses(state, "webhook/send").count("45009") == 2


def test_webhook_rate_limit_is_per_key(client: TestClient, state: EmulatorState) -> None:
    state.add_wecom_webhook("other")
    for i in range(20):
        webhook(client, text(f"m{i}"))
    assert webhook(client, text("x"))["errcode"] == 45009
    assert webhook(client, text("x"), key="other")["errcode"] == 0


def test_upload_media_keeps_the_bytes_and_the_file_can_be_sent(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    content = bytes(range(256)) * 4  # CR, LF and every other byte
    response = client.post(
        f"/cgi-bin/webhook/upload_media?key={KEY}&type=file",
        files={"media": ("汇总表.xlsx", content, "application/octet-stream")},
    )
    answer = response.json()
    assert answer["errcode"] == 0
    assert answer["type"] == "file"
    assert answer["created_at"] == str(int(START.timestamp()))
    upload = state.upload(answer["media_id"])
    assert upload is not None
    assert upload.content == content
    assert upload.filename == "汇总表.xlsx"
    assert upload.owner == KEY
    [record] = state.messages(api="upload_media")
    assert record.body["size"] == len(content)

    file_message = {"msgtype": "file", "file": {"media_id": answer["media_id"]}}
    assert webhook(client, file_message)["errcode"] == 0
    state.add_wecom_webhook("other")
    assert webhook(client, file_message, key="other")["errcode"] == 40007  # not its media
    clock.advance(timedelta(days=3))
    assert webhook(client, file_message)["errcode"] == 40007  # media ids live 3 days


@pytest.mark.parametrize(
    ("query", "files", "code"),
    [
        ("key=nope&type=file", {"media": ("a.txt", b"123456")}, 93000),
        (f"key={KEY}&type=image", {"media": ("a.txt", b"123456")}, 40004),
        (f"key={KEY}&type=file", {"upload": ("a.txt", b"123456")}, 44001),
        (f"key={KEY}&type=file", {"media": ("a.txt", b"12345")}, 40006),
    ],
    ids=["unknown-key", "bad-type", "wrong-field", "5-bytes"],
)
def test_upload_media_refusals(
    client: TestClient, state: EmulatorState, query: str, files: Any, code: int
) -> None:
    response = client.post(f"/cgi-bin/webhook/upload_media?{query}", files=files)
    assert response.json()["errcode"] == code
    assert state.uploads() == []


def test_upload_media_that_is_not_multipart(client: TestClient) -> None:
    response = client.post(f"/cgi-bin/webhook/upload_media?key={KEY}&type=file", json={})
    assert response.json()["errcode"] == 47001


def test_multipart_parser_keeps_exact_bytes() -> None:
    content = b"line1\r\nline2\r\n\r\n\x00\xff\r\n"
    request = httpx.Request(
        "POST", "http://x/", files={"media": ("f.bin", content)}, data={"note": "注"}
    )
    body = request.read()
    boundary = boundary_of(request.headers["content-type"])
    parts = {p.name: p for p in parse_multipart(body, boundary)}
    assert parts["media"].content == content
    assert parts["media"].filename == "f.bin"
    assert parts["note"].content == "注".encode()
    assert boundary_of("application/json") == ""


# --- WeCom app --------------------------------------------------------------------------


def wecom_token(client: TestClient) -> str:
    answer = client.get(f"/cgi-bin/gettoken?corpid={CORP}&corpsecret={CORP_SECRET}").json()
    assert answer["errcode"] == 0
    token: str = answer["access_token"]
    return token


def app_send(client: TestClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/cgi-bin/message/send?access_token={token}", json=body)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def app_text(content: str, touser: str = "zhangwei", **extra: Any) -> dict[str, Any]:
    return {"touser": touser, "agentid": int(AGENT), **text(content), **extra}


def test_gettoken(client: TestClient, state: EmulatorState, clock: FakeClock) -> None:
    assert client.get("/cgi-bin/gettoken?corpid=nope&corpsecret=x").json()["errcode"] == 40013
    assert client.get(f"/cgi-bin/gettoken?corpid={CORP}&corpsecret=x").json()["errcode"] == 40001
    first = client.get(f"/cgi-bin/gettoken?corpid={CORP}&corpsecret={CORP_SECRET}").json()
    assert first["errmsg"] == "ok"
    assert first["expires_in"] == 7200
    clock.advance(100)
    again = client.get(f"/cgi-bin/gettoken?corpid={CORP}&corpsecret={CORP_SECRET}").json()
    assert again["access_token"] == first["access_token"]  # same token while valid
    assert again["expires_in"] == 7100
    assert state.messages() == []  # token fetches are not messages
    assert state.attempts(api="gettoken")[0].body == {"corpid": "nope"}


def test_app_message_delivered(client: TestClient, state: EmulatorState) -> None:
    answer = app_send(client, wecom_token(client), app_text("您有 2 位选手待评分"))
    assert answer["errcode"] == 0
    assert answer["msgid"]
    [message] = state.messages(api="message/send")
    assert (message.platform, message.target) == ("wecom", "zhangwei")
    assert message.body["text"] == {"content": "您有 2 位选手待评分"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (app_text("x", touser=""), 81013),
        ({"agentid": int(AGENT), **text("x")}, 81013),
        ({**app_text("x"), "msgtype": "voice_call"}, 40008),
        (app_text("字" * 683), 45002),
        (app_text(""), 44004),
        ({**app_text("x"), "agentid": 999}, 40056),
        (
            {"touser": "a", "agentid": AGENT, "msgtype": "textcard", "textcard": {"title": "t"}},
            44004,
        ),
        (
            {"touser": "a", "agentid": AGENT, "msgtype": "file", "file": {"media_id": "zz"}},
            40007,
        ),
    ],
    ids=[
        "empty-touser",
        "no-touser",
        "bad-msgtype",
        "text-2049-bytes",
        "empty-text",
        "wrong-agent",
        "textcard-incomplete",
        "unknown-media",
    ],
)
def test_app_message_refusals(
    client: TestClient, state: EmulatorState, body: dict[str, Any], code: int
) -> None:
    assert app_send(client, wecom_token(client), body)["errcode"] == code
    assert state.messages(api="message/send") == []


def test_app_token_unknown_and_expired(client: TestClient, clock: FakeClock) -> None:
    assert app_send(client, "forged", app_text("x"))["errcode"] == 40014
    token = wecom_token(client)
    clock.advance(7199)
    assert app_send(client, token, app_text("x"))["errcode"] == 0
    clock.advance(1)
    assert app_send(client, token, app_text("x"))["errcode"] == 42001
    fresh = wecom_token(client)
    assert fresh != token
    assert app_send(client, fresh, app_text("x"))["errcode"] == 0


def test_app_bad_json_never_500(client: TestClient) -> None:
    token = wecom_token(client)
    response = client.post(f"/cgi-bin/message/send?access_token={token}", content=b"[1, 2")
    assert response.status_code == 200
    assert response.json()["errcode"] == 47001


def test_app_31st_message_to_one_member_is_dropped(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    token = wecom_token(client)
    for i in range(30):
        assert app_send(client, token, app_text(f"提醒 {i}"))["errcode"] == 0
    answer = app_send(client, token, app_text("提醒 30"))
    assert answer["errcode"] == 0  # silently dropped
    assert len(state.messages(api="message/send")) == 30
    assert state.attempts(api="message/send")[-1].status == "dropped"

    # Two recipients: the one at the limit is dropped, the other still gets it.
    app_send(client, token, app_text("两人", touser="zhangwei|lisi"))
    last_two = state.attempts(api="message/send")[-2:]
    assert [(r.target, r.status) for r in last_two] == [("zhangwei", "dropped"), ("lisi", "ok")]

    clock.advance(60)
    app_send(client, token, app_text("一分钟后"))
    assert state.attempts(api="message/send")[-1].status == "ok"


def test_app_duplicate_check(client: TestClient, state: EmulatorState, clock: FakeClock) -> None:
    token = wecom_token(client)
    body = app_text("截止提醒", enable_duplicate_check=1, duplicate_check_interval=600)
    assert app_send(client, token, body)["errcode"] == 0
    clock.advance(599)
    assert app_send(client, token, body)["errcode"] == 0
    assert statuses(state, "message/send") == ["ok", "duplicate"]
    assert app_send(client, token, app_text("另一条", enable_duplicate_check=1))["errcode"] == 0
    clock.advance(1)
    app_send(client, token, body)
    assert statuses(state, "message/send") == ["ok", "duplicate", "ok", "ok"]
    # Without the flag the same content is delivered every time.
    app_send(client, token, app_text("普通"))
    app_send(client, token, app_text("普通"))
    assert len(state.messages(api="message/send")) == 5


def test_app_media_upload_then_file_message(client: TestClient, state: EmulatorState) -> None:
    token = wecom_token(client)
    answer = client.post(
        f"/cgi-bin/media/upload?access_token={token}&type=file",
        files={"media": ("export.csv", b"name,score\n")},
    ).json()
    assert answer["errcode"] == 0
    body = {
        "touser": "a",
        "agentid": AGENT,
        "msgtype": "file",
        "file": {"media_id": answer["media_id"]},
    }
    assert app_send(client, token, body)["errcode"] == 0
    assert state.messages(api="media/upload")[0].target == CORP


# --- DingTalk custom robot --------------------------------------------------------------


def test_robot_signed_message_delivered(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    body = {
        "msgtype": "text",
        "text": {"content": "@13800000000 请评分"},
        "at": {"atMobiles": ["13800000000"], "isAtAll": False},
    }
    assert robot(client, clock, body) == {"errcode": 0, "errmsg": "ok"}
    [message] = state.messages(platform="dingtalk")
    assert (message.api, message.target, message.body) == ("robot/send", ROBOT, body)


def test_robot_21st_message_blocks_for_ten_minutes(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    for i in range(20):
        assert robot(client, clock, text(f"m{i}"))["errcode"] == 0
    assert robot(client, clock, text("m20"))["errcode"] == 410100
    clock.advance(timedelta(minutes=9))
    assert robot(client, clock, text("m21"))["errcode"] == 410100  # window empty, still blocked
    clock.advance(timedelta(minutes=1))
    assert robot(client, clock, text("m22"))["errcode"] == 0
    assert len(state.messages(api="robot/send")) == 21
    assert statuses(state, "robot/send")[20:] == ["410100", "410100", "ok"]


@pytest.mark.parametrize(
    ("query", "errmsg"),
    [
        ("timestamp={ts}&sign=AAAA", "sign not match"),
        ("timestamp={ts}", "sign not match"),
        ("sign={sign}", "timestamp invalid"),
        ("timestamp={stale}&sign={stale_sign}", "timestamp invalid"),
        ("timestamp=abc&sign={sign}", "timestamp invalid"),
        ("timestamp={ts}&sign={other_secret_sign}", "sign not match"),
    ],
    ids=["bad-sign", "no-sign", "no-timestamp", "stale", "timestamp-not-a-number", "wrong-secret"],
)
def test_robot_signature_refusals(
    client: TestClient, state: EmulatorState, query: str, errmsg: str
) -> None:
    ts = int(START.timestamp() * 1000)
    stale = ts - 3600 * 1000 - 1
    values = {
        "ts": ts,
        "sign": quote_plus(dingtalk_sign(SECRET, ts)),
        "stale": stale,
        "stale_sign": quote_plus(dingtalk_sign(SECRET, stale)),
        "other_secret_sign": quote_plus(dingtalk_sign("SECother", ts)),
    }
    url = f"/robot/send?access_token={ROBOT}&" + query.format(**values)
    answer = client.post(url, json=text("x")).json()
    assert answer == {"errcode": 310000, "errmsg": errmsg}
    assert state.messages() == []


def test_robot_timestamp_window_is_one_hour_by_the_clock(
    client: TestClient, clock: FakeClock
) -> None:
    url = signed_robot_url("", ROBOT, SECRET, clock.now())
    clock.advance(timedelta(hours=1))
    assert client.post(url, json=text("x")).json()["errcode"] == 0
    clock.advance(timedelta(milliseconds=1))
    assert client.post(url, json=text("x")).json()["errmsg"] == "timestamp invalid"


def test_robot_plus_in_signature_sent_unencoded_is_refused(
    client: TestClient, state: EmulatorState
) -> None:
    ts = 1_700_000_000_000
    sign = dingtalk_sign(SECRET, ts)
    assert sign == "1hLl2KkRX3rps9FaitIUwaac+CtAFEaP345jvdrTL7c="  # PROTOCOLS §4 vector
    raw = client.post(
        f"/robot/send?access_token={ROBOT}&timestamp={ts}&sign={sign}", json=text("x")
    )
    assert raw.json() == {"errcode": 310000, "errmsg": "sign not match"}
    encoded = "1hLl2KkRX3rps9FaitIUwaac%2BCtAFEaP345jvdrTL7c%3D"
    ok = client.post(
        f"/robot/send?access_token={ROBOT}&timestamp={ts}&sign={encoded}", json=text("x")
    )
    assert ok.json()["errcode"] == 0
    assert statuses(state, "robot/send") == ["310000", "ok"]


def test_robot_other_refusals(client: TestClient, state: EmulatorState, clock: FakeClock) -> None:
    assert robot(client, clock, text("x"), token="unknown")["errcode"] == 400101
    assert client.post("/robot/send", json=text("x")).json()["errcode"] == 300005
    assert robot(client, clock, text("x" * 20_001))["errcode"] == 460101
    assert robot(client, clock, {"msgtype": "voice", "voice": {}})["errcode"] == 40035
    assert (
        robot(client, clock, {"msgtype": "markdown", "markdown": {"title": "t"}})["errcode"]
        == 40035
    )
    assert robot(client, clock, {**text("x"), "at": {"atMobiles": "138"}})["errcode"] == 40035
    bad_json = client.post(signed_robot_url("", ROBOT, SECRET, clock.now()), content=b"{,}")
    assert (bad_json.status_code, bad_json.json()["errcode"]) == (200, 40035)
    assert state.messages() == []


@pytest.mark.parametrize(
    "body",
    [
        {"msgtype": "link", "link": {"title": "t", "text": "x", "messageUrl": "https://x"}},
        {"msgtype": "markdown", "markdown": {"title": "t", "text": "### 结果"}},
        {
            "msgtype": "actionCard",
            "actionCard": {
                "title": "t",
                "text": "x",
                "singleTitle": "go",
                "singleURL": "https://x",
            },
        },
        {
            "msgtype": "feedCard",
            "feedCard": {"links": [{"title": "t", "messageURL": "u", "picURL": "p"}]},
        },
    ],
    ids=["link", "markdown", "actionCard", "feedCard"],
)
def test_robot_accepts_every_type(
    client: TestClient, state: EmulatorState, clock: FakeClock, body: dict[str, Any]
) -> None:
    assert robot(client, clock, body)["errcode"] == 0


def test_unsigned_robot_needs_no_signature(client: TestClient, state: EmulatorState) -> None:
    answer = client.post(f"/robot/send?access_token={PLAIN_ROBOT}", json=text("x")).json()
    assert answer["errcode"] == 0


def test_robot_msg_uuid_makes_a_retry_idempotent(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    body = {**text("周报"), "msgUuid": "push-42"}
    assert robot(client, clock, body)["errcode"] == 0
    assert robot(client, clock, body)["errcode"] == 0
    assert robot(client, clock, {**text("周报"), "msgUuid": "push-43"})["errcode"] == 0
    assert robot(client, clock, text("周报"))["errcode"] == 0
    assert robot(client, clock, text("周报"))["errcode"] == 0
    assert statuses(state, "robot/send") == ["ok", "duplicate", "ok", "ok", "ok"]
    assert len(state.messages(api="robot/send")) == 4


def test_robot_msg_uuid_of_a_refused_call_is_not_remembered(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    state.fault("robot/send", errcode=-1, times=1)
    body = {**text("x"), "msgUuid": "u1"}
    assert robot(client, clock, body)["errcode"] == -1
    assert robot(client, clock, body)["errcode"] == 0
    assert len(state.messages()) == 1


# --- DingTalk OpenAPI and sessionWebhook ------------------------------------------------


def dingtalk_token(client: TestClient) -> str:
    response = client.post(
        "/v1.0/oauth2/accessToken", json={"appKey": APP_KEY, "appSecret": APP_SECRET}
    )
    assert response.status_code == 200
    assert response.json()["expireIn"] == 7200
    token: str = response.json()["accessToken"]
    return token


def group_body(**extra: Any) -> dict[str, Any]:
    return {
        "robotCode": APP_KEY,
        "openConversationId": "cid-teachers",
        "msgKey": "sampleMarkdown",
        "msgParam": json.dumps({"title": "结果", "text": "### 第一名"}, ensure_ascii=False),
        **extra,
    }


def test_openapi_access_token(client: TestClient, state: EmulatorState) -> None:
    bad = client.post("/v1.0/oauth2/accessToken", json={"appKey": APP_KEY, "appSecret": "x"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "InvalidAuthentication"
    missing = client.post("/v1.0/oauth2/accessToken", json={"appKey": APP_KEY})
    assert missing.status_code == 400
    assert dingtalk_token(client)
    assert all("appSecret" not in r.body for r in state.attempts())


def test_openapi_group_message(client: TestClient, state: EmulatorState, clock: FakeClock) -> None:
    url = "/v1.0/robot/groupMessages/send"
    assert client.post(url, json=group_body()).status_code == 401
    forged = {"x-acs-dingtalk-access-token": "forged"}
    assert client.post(url, json=group_body(), headers=forged).status_code == 401
    headers = {"x-acs-dingtalk-access-token": dingtalk_token(client)}
    response = client.post(url, json=group_body(), headers=headers)
    assert response.status_code == 200
    assert response.json()["processQueryKey"]
    [message] = state.messages(api="groupMessages/send")
    assert (message.platform, message.target) == ("dingtalk", "cid-teachers")
    assert message.body == group_body()

    bad_param = client.post(url, json=group_body(msgParam="{"), headers=headers)
    assert bad_param.status_code == 400
    no_text = group_body(msgParam=json.dumps({"title": "t"}))
    assert client.post(url, json=no_text, headers=headers).status_code == 400
    wrong_robot = group_body(robotCode="other")
    assert client.post(url, json=wrong_robot, headers=headers).status_code == 400
    not_json = client.post(url, content=b"nope", headers=headers)
    assert (not_json.status_code, not_json.json()["code"]) == (400, "InvalidParameter")

    clock.advance(7200)
    assert client.post(url, json=group_body(), headers=headers).status_code == 401
    assert len(state.messages(api="groupMessages/send")) == 1


def test_openapi_one_to_one_batch(client: TestClient, state: EmulatorState) -> None:
    url = "/v1.0/robot/oToMessages/batchSend"
    headers = {"x-acs-dingtalk-access-token": dingtalk_token(client)}
    body = {
        "robotCode": APP_KEY,
        "msgKey": "sampleText",
        "msgParam": json.dumps({"content": "请在今天 17:00 前提交"}, ensure_ascii=False),
    }
    too_many = client.post(
        url, json={**body, "userIds": [f"u{i}" for i in range(21)]}, headers=headers
    )
    assert too_many.status_code == 400
    assert client.post(url, json={**body, "userIds": []}, headers=headers).status_code == 400
    users = [f"u{i}" for i in range(20)]
    ok = client.post(url, json={**body, "userIds": users}, headers=headers)
    assert ok.status_code == 200
    assert set(ok.json()) == {"processQueryKey", "invalidStaffIdList", "flowControlledStaffIdList"}
    [message] = state.messages(api="oToMessages/batchSend")
    assert message.target == "|".join(users)


def test_session_webhook(client: TestClient, state: EmulatorState, clock: FakeClock) -> None:
    path = state.open_session("sess-1", START + timedelta(minutes=90))
    assert path == "/session/sess-1"
    assert client.post(path, json=text("收到")).json() == {"errcode": 0, "errmsg": "ok"}
    assert client.post(path, json={"msgtype": "nope"}).json()["errcode"] == 40035
    clock.advance(timedelta(minutes=90))
    assert client.post(path, json=text("晚了")).json()["errcode"] == 300001
    assert client.post("/session/unknown", json=text("x")).json()["errcode"] == 300001
    [message] = state.messages(api="session")
    assert (message.target, message.body) == ("sess-1", text("收到"))


# --- faults, outage, control routes -----------------------------------------------------


def test_fault_errcode_n_times_then_normal(client: TestClient, state: EmulatorState) -> None:
    state.fault("webhook/send", errcode=-1, times=2)
    assert webhook(client, text("a"))["errcode"] == -1
    assert webhook(client, text("b"))["errcode"] == -1
    assert webhook(client, text("c"))["errcode"] == 0
    assert statuses(state, "webhook/send") == ["-1", "-1", "ok"]
    assert [r.body for r in state.messages()] == [text("c")]


def test_fault_until_a_time(client: TestClient, state: EmulatorState, clock: FakeClock) -> None:
    state.fault("robot/send", errcode=130101, until=START + timedelta(minutes=5))
    assert robot(client, clock, text("a"))["errcode"] == 130101
    clock.advance(timedelta(minutes=4, seconds=59))
    assert robot(client, clock, text("b"))["errcode"] == 130101
    clock.advance(1)
    assert robot(client, clock, text("c"))["errcode"] == 0


def test_fault_http_status_and_clear(client: TestClient, state: EmulatorState) -> None:
    state.fault("webhook/send", http_status=502)
    response = client.post(f"/cgi-bin/webhook/send?key={KEY}", json=text("a"))
    assert response.status_code == 502
    assert response.json()["errcode"] == -1
    state.clear_faults()
    assert webhook(client, text("c"))["errcode"] == 0
    assert statuses(state, "webhook/send") == ["http_502", "ok"]


def test_fault_only_hits_its_api(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    state.fault("robot/send", errcode=-1)
    assert webhook(client, text("a"))["errcode"] == 0
    assert robot(client, clock, text("a"))["errcode"] == -1


@pytest.mark.parametrize(
    "kwargs",
    [{"errcode": 1, "http_status": 500}, {}, {"errcode": 1, "times": 0}],
    ids=["both-codes", "nothing", "zero-times"],
)
def test_fault_arguments_are_checked(state: EmulatorState, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        state.fault("webhook/send", **kwargs)


def test_down_answers_503_everywhere(
    client: TestClient, state: EmulatorState, clock: FakeClock
) -> None:
    state.down(True)
    assert client.post(f"/cgi-bin/webhook/send?key={KEY}", json=text("a")).status_code == 503
    assert client.get(f"/cgi-bin/gettoken?corpid={CORP}&corpsecret=x").status_code == 503
    assert (
        client.post(signed_robot_url("", ROBOT, SECRET, clock.now()), json=text("a")).status_code
        == 503
    )
    assert client.post("/v1.0/oauth2/accessToken", json={}).status_code == 503
    assert client.post("/session/s", json=text("a")).status_code == 503
    assert client.get("/_emulator/messages").status_code == 200  # control stays up
    state.down(False)
    assert webhook(client, text("b"))["errcode"] == 0
    assert statuses(state, "webhook/send") == ["http_503", "ok"]


def test_control_routes(client: TestClient, state: EmulatorState) -> None:
    webhook(client, text("a"))
    webhook(client, text(""))
    dump = client.get("/_emulator/messages").json()
    assert dump["count"] == 1
    assert dump["messages"][0] == {
        "platform": "wecom",
        "api": "webhook/send",
        "target": KEY,
        "body": text("a"),
        "at": START.isoformat(),
        "status": "ok",
    }
    assert client.get("/_emulator/messages?all=1").json()["count"] == 2
    assert client.get("/_emulator/messages?platform=dingtalk").json()["count"] == 0
    assert client.get("/_emulator/messages?platform=qq").status_code == 400
    assert client.post("/_emulator/down?on=1").json() == {"down": True}
    assert state.is_down
    assert client.post("/_emulator/reset").json() == {"ok": True}
    assert not state.is_down
    assert state.attempts() == []
    assert state.wecom_webhook_known(KEY)  # registries survive a reset


def test_unknown_paths_and_methods_answer_json(client: TestClient) -> None:
    missing = client.get("/nope")
    assert (missing.status_code, missing.json()["errcode"]) == (404, -1)
    wrong = client.get("/cgi-bin/webhook/send")
    assert wrong.status_code == 405
    assert wrong.json()["errcode"] == -1


POST_PATHS = [
    f"/cgi-bin/webhook/send?key={KEY}",
    "/cgi-bin/message/send?access_token=x",
    f"/cgi-bin/webhook/upload_media?key={KEY}&type=file",
    f"/robot/send?access_token={PLAIN_ROBOT}",
    "/v1.0/oauth2/accessToken",
    "/v1.0/robot/groupMessages/send",
    "/v1.0/robot/oToMessages/batchSend",
    "/session/s",
]


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    path=st.sampled_from(POST_PATHS),
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "msgtype",
                            "text",
                            "content",
                            "touser",
                            "msgKey",
                            "msgParam",
                            "userIds",
                            "robotCode",
                            "appKey",
                            "at",
                            "markdown",
                            "file",
                        ]
                    ),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=8,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    content_type=st.sampled_from(["application/json", "multipart/form-data; boundary=x"]),
)
def test_no_body_makes_a_500(path: str, body: bytes, content_type: str) -> None:
    state = _state(FakeClock(START))
    state.open_session("s", START + timedelta(hours=1))
    with TestClient(create_emulator_app(state)) as test_client:
        response = test_client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code < 500
    response.json()


# --- the loopback server ----------------------------------------------------------------


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "edubot-emulator"]


def test_server_serves_on_loopback_and_stops_cleanly(clock: FakeClock) -> None:
    state = _state(clock)
    with EmulatorServer(state) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert len(_emulator_threads()) == 1
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            answer = http.post(f"/cgi-bin/webhook/send?key={KEY}", json=text("真的网络"))
            assert answer.json() == {"errcode": 0, "errmsg": "ok"}
            signed = signed_robot_url(server.base_url, ROBOT, SECRET, clock.now())
            assert http.post(signed, json=text("x")).json()["errcode"] == 0
        base_url = server.base_url
    assert _emulator_threads() == []
    assert [r.api for r in state.messages()] == ["webhook/send", "robot/send"]
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{base_url}/_emulator/reset", timeout=2)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    server.stop()  # idempotent


def test_server_delay_fault_times_out_the_client(clock: FakeClock) -> None:
    state = _state(clock)
    state.fault("webhook/send", delay_s=0.3, times=1)
    with EmulatorServer(state) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{server.base_url}/cgi-bin/webhook/send?key={KEY}", json=text("慢"), timeout=0.1
            )
        fast = httpx.post(
            f"{server.base_url}/cgi-bin/webhook/send?key={KEY}", json=text("快"), timeout=5
        )
        assert fast.json()["errcode"] == 0
    # The slow one still arrived after the client gave up: why retries need idempotency.
    assert sorted(r.body["text"]["content"] for r in state.messages()) == ["快", "慢"]


# --- players ----------------------------------------------------------------------------


def test_wecom_app_callback_decrypts_with_the_real_crypto() -> None:
    crypto = WeComCrypto("token123", AES_KEY, CORP)
    query, body = wecom_app_callback(
        crypto,
        to_user=CORP,
        from_user="zhangwei",
        content="评分 3 92 ]]> <x>",
        msg_id="7301",
        agent_id=AGENT,
        create_time=1_700_000_000,
    )
    assert query["timestamp"] == "1700000000"
    encrypt = parse_app_envelope(body)
    plaintext = crypto.open(
        query["msg_signature"],
        query["timestamp"],
        query["nonce"],
        encrypt,
        now=START,
        tolerance=timedelta(hours=1),
    )
    message = parse_app_message(plaintext)
    assert message is not None
    assert (message.sender_id, message.text, message.message_id) == (
        "zhangwei",
        "评分 3 92 ]]> <x>",
        "7301",
    )
    assert message.sent_at == START
    with pytest.raises(Forbidden):
        crypto.open(
            "0" * 40, query["timestamp"], query["nonce"], encrypt, now=START, tolerance=None
        )


def test_wecom_app_callback_file() -> None:
    crypto = WeComCrypto("token123", AES_KEY, CORP)
    query, body = wecom_app_callback(
        crypto,
        to_user=CORP,
        from_user="lisi",
        content="",
        msg_id="9",
        agent_id=AGENT,
        create_time=1_700_000_000,
        msg_type="file",
        media_id="MEDIA1",
        file_name="报告.docx",
        nonce="fixed",
    )
    assert query["nonce"] == "fixed"
    plaintext = crypto.open(
        query["msg_signature"],
        query["timestamp"],
        "fixed",
        parse_app_envelope(body),
        now=START,
        tolerance=None,
    )
    message = parse_app_message(plaintext)
    assert message is not None
    assert message.attachment is not None
    assert (message.attachment.ref, message.attachment.filename) == ("MEDIA1", "报告.docx")


def test_wecom_url_verification_query() -> None:
    crypto = WeComCrypto("token123", AES_KEY, CORP)
    query = wecom_url_verification(crypto, "5927782489442352469", 1_700_000_000)
    assert verify_url(crypto, query, now=START, tolerance=timedelta(hours=1)) == (
        "5927782489442352469"
    )


def test_wecom_robot_callback_decrypts_with_the_real_crypto() -> None:
    crypto = WeComCrypto("robot-token", AES_KEY, "")
    query, body = wecom_robot_callback(
        crypto,
        msgid="m1",
        from_userid="zhangwei",
        content="@教研助手 评分 3 92",
        chatid="wrk123",
        timestamp=1_700_000_000,
        response_url="http://127.0.0.1:1/r",
    )
    plaintext = crypto.open(
        query["msg_signature"],
        query["timestamp"],
        query["nonce"],
        parse_robot_envelope(body),
        now=START,
        tolerance=timedelta(hours=1),
    )
    message = parse_robot_message(plaintext)
    assert (message.chat_type, message.chat_id, message.text) == (
        "group",
        "wrk123",
        "@教研助手 评分 3 92",
    )
    assert message.reply_url == "http://127.0.0.1:1/r"

    _, file_body = wecom_robot_callback(
        crypto,
        msgid="m2",
        from_userid="lisi",
        content="",
        chattype="single",
        msgtype="file",
        file_url="https://x/f",
        timestamp=1_700_000_000,
    )
    file_message = parse_robot_message(crypto.decrypt(parse_robot_envelope(file_body)))
    assert file_message.chat_type == "private"
    assert file_message.attachment is not None
    assert file_message.attachment.ref == "https://x/f"


def test_dingtalk_callback_verifies_and_parses() -> None:
    ts = 1_700_000_000_000
    headers, body = dingtalk_callback(
        APP_SECRET,
        msg_id="msg1",
        sender_staff_id="staff1",
        sender_nick="张伟",
        content="评分 3 92",
        conversation_id="cid1",
        session_webhook="http://127.0.0.1:1/session/s",
        robot_code=APP_KEY,
        create_at_ms=ts,
        timestamp_ms=ts,
    )
    verify_dingtalk_request(headers["timestamp"], headers["sign"], APP_SECRET, now=START)
    with pytest.raises(Forbidden):
        verify_dingtalk_request(headers["timestamp"], headers["sign"], "other", now=START)
    message = parse_dingtalk(body)
    assert message.text == " 评分 3 92"  # DingTalk's leading space in groups
    assert (message.chat_type, message.chat_id, message.sender_name) == ("group", "cid1", "张伟")
    assert message.reply_url == "http://127.0.0.1:1/session/s"
    assert message.reply_url_expires_at == START + timedelta(minutes=90)

    _, private = dingtalk_callback(
        APP_SECRET,
        msg_id="msg2",
        sender_staff_id="staff1",
        sender_nick="张伟",
        content="帮助",
        conversation_type="1",
        create_at_ms=ts,
        timestamp_ms=ts,
    )
    assert parse_dingtalk(private).text == "帮助"
    with pytest.raises(ValueError, match="conversation_id"):
        dingtalk_callback(
            APP_SECRET,
            msg_id="m",
            sender_staff_id="s",
            sender_nick="n",
            content="x",
            create_at_ms=ts,
            timestamp_ms=ts,
        )


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "query": dict(request.url.params),
            "type": request.headers.get("content-type"),
            "sign": request.headers.get("sign"),
            "body": request.content.decode(),
        },
    )


def test_send_inbound_posts_body_query_and_headers() -> None:
    crypto = WeComCrypto("token123", AES_KEY, CORP)
    query, body = wecom_app_callback(
        crypto, to_user=CORP, from_user="a", content="x", msg_id="1", agent_id=AGENT, create_time=1
    )
    headers, dt_body = dingtalk_callback(
        APP_SECRET,
        msg_id="m",
        sender_staff_id="s",
        sender_nick="n",
        content="x",
        conversation_type="1",
        create_at_ms=1,
        timestamp_ms=1,
    )
    with httpx.Client(transport=httpx.MockTransport(_echo)) as http:
        xml = send_inbound("http://bot/cb", body, params=query, client=http).json()
        dt = send_inbound("http://bot/cb", dt_body, headers=headers, client=http).json()
    assert xml["query"] == query  # the "+" and "=" of the signature survive the encoding
    assert xml["type"].startswith("text/xml")
    assert xml["body"] == body.decode()
    assert dt["sign"] == headers["sign"]
    assert dt["type"].startswith("application/json")

    async def send_async() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_echo)) as http:
            return await send_inbound_async("http://bot/cb", body, params=query, client=http)

    assert asyncio.run(send_async()).json()["query"] == query
