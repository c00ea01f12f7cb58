"""``edubot chat --over``: each typed message travels a real wire to an in-process service.

``stream`` and ``websocket`` go through the platform emulator to the connection the service
opens itself, ``http`` through the callback endpoint, signed and encrypted; ``auto`` picks the
long connection the config uses. The inbound log shows which channel carried each message,
and the connection runner's log that the connection was up.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import Settings
from bot.devtools.chat import run_chat
from bot.devtools.chat_wire import Over
from storage.db import make_engine, make_session_factory, transaction
from storage.models import ConnectionLease, InboundMessageRow, OutboxRow, ScoreSheet
from tests.conftest import make_settings
from tests.support.campaign import campaign

SCORE = "评分 瑞泉中学 18 22 17 20 9\n"
RECORDED = "已记录 申毅 → 瑞泉中学共同体：86 分（目标18 措施22 进展17 成效20 表现9）"
DING_SCORE = "评分 实验 18 22 17 20 9\n"
DING_RECORDED = "已记录 党攀峰 → 实验初中共同体：86 分"


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(sqlite_url, tmp_path)


def chat(
    settings: Settings, person: str, typed: str, clock: FakeClock, over: Over
) -> tuple[int, str]:
    out = io.StringIO()
    code = run_chat(settings, person, over=over, stdin=io.StringIO(typed), stdout=out, clock=clock)
    return code, out.getvalue()


def rows(settings: Settings, *columns: Any) -> list[Any]:
    engine = make_engine(settings.database.url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return list(session.execute(select(*columns)).all())
    finally:
        engine.dispose()


def test_websocket_carries_a_wecom_judge_over_the_robot_long_connection(
    settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edubot.connections")

    code, out = chat(settings, "申毅", SCORE + "评分 瑞泉中学 18 27 17 20 9\n", clock, "websocket")

    assert code == 0
    assert "消息经：企业微信智能机器人长连接（平台模拟器 http://127.0.0.1:" in out
    assert RECORDED in out
    assert "任务措施满分 25，收到 27。" in out
    assert rows(settings, InboundMessageRow.channel, InboundMessageRow.status) == [
        ("wecom_robot", "ok"),
        ("wecom_robot", "refused"),
    ]
    assert len(rows(settings, ScoreSheet.id)) == 1
    assert any(r.getMessage() == "wecom-robot: connected" for r in caplog.records)
    assert rows(settings, ConnectionLease.name) == []  # released when the chat ended


def test_stream_carries_a_dingtalk_judge_over_stream_mode(
    settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edubot.connections")

    code, out = chat(settings, "党攀峰", DING_SCORE, clock, "stream")

    assert code == 0
    assert "以钉钉账号 ding-dangpanfeng 私聊机器人" in out
    assert "消息经：钉钉 Stream 模式长连接（平台模拟器" in out
    assert DING_RECORDED in out
    assert rows(settings, InboundMessageRow.channel) == [("dingtalk",)]
    assert rows(settings, OutboxRow.id) == []  # no sessionWebhook: chat sends no pushes
    assert any(r.getMessage() == "dingtalk-stream: connected" for r in caplog.records)


@pytest.mark.parametrize(
    ("person", "typed", "answer", "channel"),
    [
        pytest.param("申毅", SCORE, RECORDED, "wecom_app", id="wecom-app-xml"),
        pytest.param("党攀峰", DING_SCORE, DING_RECORDED, "dingtalk", id="dingtalk-signed"),
    ],
)
def test_http_goes_through_the_callback_endpoint(
    settings: Settings, clock: FakeClock, person: str, typed: str, answer: str, channel: str
) -> None:
    code, out = chat(settings, person, typed, clock, "http")

    assert code == 0
    assert "消息经：HTTP 回调（本机服务 http://127.0.0.1:" in out
    assert answer in out
    assert rows(settings, InboundMessageRow.channel) == [(channel,)]


def test_auto_takes_the_long_connection_the_config_uses(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    stream = make_settings(
        sqlite_url, tmp_path, dingtalk={**campaign()["dingtalk"], "mode": "stream"}
    )

    _, ding = chat(stream, "党攀峰", DING_SCORE, clock, "auto")
    _, wecom = chat(stream, "申毅", SCORE, clock, "auto")  # robot_mode = "callback"

    assert "消息经：钉钉 Stream 模式长连接" in ding
    assert DING_RECORDED in ding
    assert "消息经：直接交给分发器（不经网络）" in wecom
    assert RECORDED in wecom


def test_a_mode_picks_the_persons_id_on_its_platform(settings: Settings, clock: FakeClock) -> None:
    code, out = chat(settings, "申毅", SCORE, clock, "stream")  # on both platforms

    assert code == 0
    assert "以钉钉账号 ding-shenyi 私聊机器人" in out
    assert RECORDED in out


def test_a_mode_the_person_cannot_use_is_refused(settings: Settings, clock: FakeClock) -> None:
    code, out = chat(settings, "郭锋", "进度\n", clock, "stream")  # WeCom only

    assert code == 2
    assert out.startswith("郭锋 没有配置 dingtalk_userid（经钉钉 Stream 对话）")
    assert "> 进度" not in out  # nothing was sent
