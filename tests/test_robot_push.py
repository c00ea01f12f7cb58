"""Pushing to a WeCom group over the robot's long connection (``aibot_send_msg``).

A group with a ``chat_id`` and no webhook is reached through the live connection: the
outbox's push goes out as a markdown ``aibot_send_msg`` frame and WeCom's answer settles
it. Over real sockets on loopback against the emulator, which allows pushes only to chats
someone wrote to the robot from and enforces 30 a minute per robot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.platforms.router import build_router
from bot.platforms.wecom.robot_push import RobotChannel, RobotPushSender
from bot.runtime import make_outbox
from handlers.messages import Mention, OutboundMessage
from handlers.pushes import enqueue
from storage.db import transaction
from storage.models import OutboxRow
from tests.support.campaign import campaign
from tests.support.waiting import wait_until
from tests.test_wecom_longconn import BOT, Robot, robot

GROUPS = [
    {**g, "webhook": ""} if g["key"] == "leaders" else g for g in campaign()["groups"]
]  # 领导小组群: chat_id wrLeaders only, no group robot webhook


@pytest.fixture
def wecom(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Robot]:
    with robot(sqlite_url, tmp_path, clock, groups=GROUPS) as running:
        yield running


def heard_in(wecom: Robot, chat_id: str) -> None:
    """Someone writes to the robot in ``chat_id`` (WeCom then lets it push there)."""
    body: dict[str, Any] = {
        "msgid": f"heard-{chat_id}",
        "aibotid": BOT,
        "chatid": chat_id,
        "chattype": "group",
        "from": {"userid": "lixuebin"},
        "msgtype": "text",
        "text": {"content": "@评审助手 帮助"},
    }
    wecom.hub.deliver(BOT, body)


def push(text: str, *, mentions: tuple[Mention, ...] = ()) -> OutboundMessage:
    return OutboundMessage("wecom", "group", "leaders", text, mentions=mentions)


def test_the_outbox_pushes_through_the_long_connection(wecom: Robot, clock: FakeClock) -> None:
    heard_in(wecom, "wrLeaders")
    services = wecom.instances[0].services
    with transaction(services.factory) as session:
        enqueue(session, push("【成绩公布】瑞泉中学会场"), dedupe_key="p1", due_at=clock.now(),
                now=clock.now())  # fmt: skip
    with httpx.Client() as http:
        outbox = make_outbox(services, http)
        outbox.drain_all()

    (sent,) = wecom.state.messages("wecom", "aibot_send_msg")
    assert sent.target == "wrLeaders"
    assert sent.body == {
        "chatid": "wrLeaders",
        "chat_type": 2,
        "msgtype": "markdown",
        "markdown": {"content": "【成绩公布】瑞泉中学会场"},
    }
    with transaction(services.factory) as session:
        assert session.scalars(select(OutboxRow.status)).all() == ["sent"]


def test_mentions_become_tags_and_text_is_never_sent_as_text(wecom: Robot) -> None:
    heard_in(wecom, "wrLeaders")
    services = wecom.instances[0].services
    with httpx.Client() as http:
        router = build_router(
            services.settings, http=http, clock=services.clock, robot=services.robot_channel
        )
        router.send(push("请尽快提交", mentions=(Mention("陈校长", "chenxz"),)), dedupe_key="k")
    (sent,) = wecom.state.messages("wecom", "aibot_send_msg")
    assert sent.body["markdown"] == {"content": "请尽快提交\n<@chenxz>"}
    # WeCom refuses plain text pushes: the emulator answers as it does.
    answer = services.robot_channel.request(
        "aibot_send_msg",
        {"chatid": "wrLeaders", "msgtype": "text", "text": {"content": "x"}},
        timeout=5,
    )
    assert (answer.errcode, answer.errmsg) == (40008, "invalid message type")


def test_a_chat_nobody_wrote_from_is_refused_for_good(wecom: Robot) -> None:
    services = wecom.instances[0].services
    sender = RobotPushSender(
        services.robot_channel, bot_id=BOT, chat_id="wrLeaders", now=services.clock.now
    )
    wecom.hub.wait_for_robot(BOT)  # the emulator has the robot subscribed; and the bot side:
    wait_until(lambda: services.robot_channel.connected)  # (the answer to subscribing came)
    with pytest.raises(PermanentDelivery, match="846609"):
        sender.send(push("你好"), dedupe_key="k")
    assert [r.status for r in wecom.state.attempts("wecom", "aibot_send_msg")] == ["846609"]


def test_an_instance_without_the_connection_gives_the_push_back(clock: FakeClock) -> None:
    sender = RobotPushSender(RobotChannel(), bot_id=BOT, chat_id="wrLeaders", now=clock.now)
    with pytest.raises(RetryableDelivery) as info:
        sender.send(push("你好"), dedupe_key="k")
    assert info.value.retry_after == 5.0


def test_the_hourly_limit_holds_pushes_back(wecom: Robot, clock: FakeClock) -> None:
    heard_in(wecom, "wrLeaders")
    services = wecom.instances[0].services
    sender = RobotPushSender(
        services.robot_channel, bot_id=BOT, chat_id="wrLeaders", now=clock.now, per_hour=2
    )
    sender.send(push("一"), dedupe_key="1")
    clock.advance(timedelta(minutes=10))
    sender.send(push("二"), dedupe_key="2")
    clock.advance(timedelta(minutes=20))
    with pytest.raises(RetryableDelivery) as info:
        sender.send(push("三"), dedupe_key="3")
    assert info.value.retry_after == pytest.approx(30 * 60)  # the first leaves the hour then
    clock.advance(timedelta(minutes=30))
    sender.send(push("三"), dedupe_key="3")
    assert len(wecom.state.messages("wecom", "aibot_send_msg")) == 3


def test_wecom_s_own_minute_limit_is_retried_after_a_minute(wecom: Robot) -> None:
    heard_in(wecom, "wrLeaders")
    services = wecom.instances[0].services
    sender = RobotPushSender(
        services.robot_channel, bot_id=BOT, chat_id="wrLeaders", now=services.clock.now
    )
    for n in range(30):
        sender.send(push(f"第{n}条"), dedupe_key=str(n))
    with pytest.raises(RetryableDelivery) as info:
        sender.send(push("第31条"), dedupe_key="31")
    assert info.value.code == 45009
    assert info.value.retry_after == 60.0


def private_from(wecom: Robot, userid: str) -> None:
    """``userid`` writes to the robot in a private chat."""
    body = {
        "msgid": f"private-{userid}",
        "aibotid": BOT,
        "chattype": "single",
        "from": {"userid": userid},
        "msgtype": "text",
        "text": {"content": "进度"},
    }
    wecom.hub.deliver(BOT, body)


def test_without_the_app_a_person_is_reached_over_the_long_connection(wecom: Robot) -> None:
    private_from(wecom, "shenyi")
    services = wecom.instances[0].services
    no_app = services.settings.model_copy(
        update={"wecom": services.settings.wecom.model_copy(update={"secret": ""})}
    )
    person = OutboundMessage("wecom", "person", "shenyi", "您还有 3 位未评")
    stranger = OutboundMessage("wecom", "person", "liangfei", "您还有 5 位未评")
    with httpx.Client() as http:
        router = build_router(no_app, http=http, clock=services.clock, robot=services.robot_channel)
        router.send(person, dedupe_key="p")
        with pytest.raises(PermanentDelivery, match="846609"):
            router.send(stranger, dedupe_key="s")  # never wrote to the robot
        with_app = build_router(
            services.settings, http=http, clock=services.clock, robot=services.robot_channel
        )
        assert type(with_app.route(person)).__name__ == "WeComAppSender"  # the app comes first

    (sent,) = wecom.state.messages("wecom", "aibot_send_msg")
    assert sent.body == {
        "chatid": "shenyi",
        "chat_type": 1,
        "msgtype": "markdown",
        "markdown": {"content": "您还有 3 位未评"},
    }
