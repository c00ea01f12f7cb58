"""The platforms' callbacks driven through the ``Callback`` port alone, without HTTP.

The same signed requests the endpoint tests post, handed to ``verify`` / ``parse`` /
``answer`` as a ``WireRequest``: what a second transport or a bench loop would do.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.clock import FakeClock
from bot.config import Settings, settings_from_mapping
from bot.errors import Forbidden
from bot.platforms.dingtalk.callback import callback as dingtalk_callback
from bot.platforms.inbound import Callback, WireAnswer, WireRequest
from bot.platforms.wecom.callback import app_callback, robot_callback
from handlers.messages import InboundMessage, Reply
from tests.support.campaign import campaign
from tests.support.wire import (
    APP,
    dingtalk_request,
    open_app_reply,
    open_robot_reply,
    wecom_app_request,
    wecom_robot_request,
)


def _settings() -> Settings:
    return settings_from_mapping(campaign())


def _callbacks(settings: Settings) -> dict[str, Callback]:
    return {
        "wecom_app": app_callback(settings.wecom),
        "wecom_robot": robot_callback(settings.wecom),
        "dingtalk": dingtalk_callback(settings.dingtalk),
    }


def _request(channel: str, now: datetime) -> tuple[WireRequest, bytes]:
    if channel == "wecom_app":
        query, body = wecom_app_request("zhangsan", "进度", "8300000001", now)
        return WireRequest("POST", query, {}), body
    if channel == "wecom_robot":
        query, body = wecom_robot_request("zhangsan", "进度", "robot-1", now)
        return WireRequest("POST", query, {}), body
    headers, body = dingtalk_request("ding-zhang", "进度", "ding-1", now)
    return WireRequest("POST", {}, headers), body


@pytest.mark.parametrize(
    ("channel", "sender", "text"),
    [
        ("wecom_app", "zhangsan", "进度"),
        ("wecom_robot", "zhangsan", "@评分助手 进度"),
        ("dingtalk", "ding-zhang", " 进度"),
    ],
    ids=["wecom-app", "wecom-robot", "dingtalk"],
)
def test_a_signed_callback_parses_without_http(
    clock: FakeClock, channel: str, sender: str, text: str
) -> None:
    callback = _callbacks(_settings())[channel]
    request, body = _request(channel, clock.now())
    callback.verify(request, now=clock.now())
    message = callback.parse(request, body, now=clock.now())
    assert isinstance(message, InboundMessage)
    assert (message.channel, message.sender_id, message.text) == (channel, sender, text)


def test_the_answers_carry_the_reply_for_each_platform(clock: FakeClock) -> None:
    callbacks = _callbacks(_settings())
    reply = Reply("收到")
    answers: dict[str, WireAnswer] = {}
    for channel, callback in callbacks.items():
        request, body = _request(channel, clock.now())
        message = callback.parse(request, body, now=clock.now())
        assert isinstance(message, InboundMessage)
        answers[channel] = callback.answer(message, reply, now=clock.now())
    assert answers["wecom_app"].media_type == "application/xml"
    assert open_app_reply(answers["wecom_app"].body) == "收到"
    assert answers["wecom_robot"].media_type == "application/json"
    assert open_robot_reply(answers["wecom_robot"].body) == "收到"
    assert answers["dingtalk"] == WireAnswer(b"{}", "application/json")


def test_the_wecom_url_check_answers_the_decrypted_echostr(clock: FakeClock) -> None:
    ts = str(int(clock.now().timestamp()))
    echostr, signature, nonce = APP.seal("echo-4711", timestamp=ts)
    query = {"msg_signature": signature, "timestamp": ts, "nonce": nonce, "echostr": echostr}
    callback = _callbacks(_settings())["wecom_app"]
    request = WireRequest("GET", query, {})
    callback.verify(request, now=clock.now())
    assert callback.parse(request, b"", now=clock.now()) == WireAnswer(b"echo-4711", "text/plain")


@pytest.mark.parametrize(
    ("channel", "damage", "reason"),
    [
        ("wecom_app", "drop nonce", "missing nonce"),
        ("wecom_robot", "drop msg_signature", "missing msg_signature"),
        ("wecom_app", "url check without echostr", "missing echostr"),
        ("dingtalk", "drop sign", "dingtalk: bad sign"),
        ("dingtalk", "tamper sign", "dingtalk: bad sign"),
    ],
    ids=lambda value: str(value).replace(" ", "-"),
)
def test_verify_refuses_before_the_body(
    clock: FakeClock, channel: str, damage: str, reason: str
) -> None:
    request, _body = _request(channel, clock.now())
    query, headers = dict(request.query), dict(request.headers)
    method = "POST"
    if damage.startswith("drop "):
        query.pop(damage.removeprefix("drop "), None)
        headers.pop(damage.removeprefix("drop "), None)
    elif damage == "tamper sign":
        headers["sign"] = "A" + headers["sign"][1:]
    else:
        method = "GET"
    callback = _callbacks(_settings())[channel]
    with pytest.raises(Forbidden) as refused:
        callback.verify(WireRequest(method, query, headers), now=clock.now())
    assert refused.value.reason == reason


def test_a_wecom_signature_over_another_body_is_refused_in_parse(clock: FakeClock) -> None:
    request, _body = _request("wecom_app", clock.now())
    _query, other = wecom_app_request("lisi", "进度", "8300000002", clock.now())
    callback = _callbacks(_settings())["wecom_app"]
    callback.verify(request, now=clock.now())  # the query is complete
    with pytest.raises(Forbidden, match="bad msg_signature"):
        callback.parse(request, other, now=clock.now())


@pytest.mark.parametrize(
    ("channel", "section", "what"),
    [
        ("wecom_app", {"token": ""}, "wecom app"),
        ("wecom_robot", {"robot_token": ""}, "wecom robot"),
        ("dingtalk", {"app_secret": ""}, "dingtalk"),
    ],
    ids=["wecom-app", "wecom-robot", "dingtalk"],
)
def test_an_endpoint_left_unconfigured_refuses_everything(
    clock: FakeClock, channel: str, section: dict[str, str], what: str
) -> None:
    data = campaign()
    key = "dingtalk" if channel == "dingtalk" else "wecom"
    data[key] = {**data[key], **section}
    callback = _callbacks(settings_from_mapping(data))[channel]
    request, body = _request(channel, clock.now())
    with pytest.raises(Forbidden) as refused:
        callback.verify(request, now=clock.now())
    assert refused.value.reason == f"{what} is not configured"
    with pytest.raises(Forbidden):
        callback.parse(request, body, now=clock.now())
