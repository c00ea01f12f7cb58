"""Two ``edubot serve`` processes on one database share one WeCom robot: exactly one holds
its long connection, and after a kill -9 of that one the other takes over and answers.

Real processes, real sockets on loopback, the emulator's ``/aibot-ws`` as WeCom; the lease
is shortened to 2 s (renewed every 0.5 s), so the takeover is due within about 2.5 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.state import EmulatorState
from storage.db import make_engine, make_session_factory, transaction
from storage.models import InboundMessageRow
from tests.support.campaign import campaign
from tests.support.toml import toml_text
from tests.support.waiting import wait_until
from tests.test_faults import _kill, _start_serve

BOT, SECRET = "aibot-ruiquan", "robot-secret"


def _healthz(base_url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{base_url}/healthz", timeout=2.0).json())


def _robot_state(base_url: str) -> dict[str, str]:
    (connection,) = _healthz(base_url)["connections"]
    return dict(connection)


def _say(state: EmulatorState, msg_id: str) -> str:
    body = {
        "msgid": msg_id,
        "aibotid": BOT,
        "chatid": "wrRuiquan",
        "chattype": "group",
        "from": {"userid": "shenyi"},
        "msgtype": "text",
        "text": {"content": "@评审助手 评分 尚德中学 18 22 17 20 9"},
    }
    return str(state.wecom_longconn.deliver(BOT, body)["body"]["stream"]["content"])


def write_robot_config(data: dict[str, Any], tmp_path: Path, emulator_url: str) -> Path:
    """``data`` with the emulator's robot ``BOT`` on a long connection (2 s lease), written
    to ``tmp_path``/edubot.toml."""
    data["server"] = {"data_dir": str(tmp_path / "data")}
    data["wecom"] |= {
        "robot_mode": "websocket",
        "robot_bot_id": BOT,
        "robot_secret": SECRET,
        "robot_ws_url": emulator_url.replace("http", "ws", 1) + "/aibot-ws",
        "robot_lease_seconds": 2,
    }
    config = tmp_path / "edubot.toml"
    config.write_text(toml_text(data), encoding="utf-8")
    return config


@pytest.mark.fault
def test_one_instance_holds_the_robot_and_the_other_takes_over_after_kill_9(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    state = EmulatorState(clock)
    state.wecom_longconn.add_robot(BOT, SECRET)
    with EmulatorServer(state) as emulator:
        config = write_robot_config(campaign(db_url), tmp_path, emulator.base_url)
        first = _start_serve(config, tmp_path, "first")
        second = None
        try:
            holder = state.wecom_longconn.wait_for_robot(BOT, timeout=10.0)
            second = _start_serve(config, tmp_path, "second")
            standby = wait_until(lambda: _robot_state(second.base_url)["state"] == "standby")
            assert standby
            assert str(first.process.pid) in _robot_state(second.base_url)["reason"]
            assert _robot_state(first.base_url)["state"] == "connected"
            assert state.wecom_longconn.subscribed == 1
            assert "尚德中学" in _say(state, "wx-before")

            killed_at = time.monotonic()
            _kill(first)
            state.wecom_longconn.wait_for_robot(BOT, besides=holder, timeout=10.0)
            taken_over = time.monotonic() - killed_at
            assert taken_over < 10.0  # lease 2 s + renewal 0.5 s, far inside WeCom's 30 s
            assert "尚德中学" in _say(state, "wx-after")
            assert _robot_state(second.base_url)["state"] == "connected"
            assert state.wecom_longconn.subscribed == 2
        finally:
            _kill(first)
            if second is not None:
                _kill(second)
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            counts = dict(
                session.execute(
                    select(InboundMessageRow.message_id, func.count())
                    .where(InboundMessageRow.message_id.in_(["wx-before", "wx-after"]))
                    .group_by(InboundMessageRow.message_id)
                ).all()
            )
    finally:
        engine.dispose()
    assert counts == {"wx-before": 1, "wx-after": 1}
