"""DingTalk Stream mode across a kill -9 of ``edubot serve``: what was acknowledged is
recorded with its answer queued, and a redelivery after the restart is answered from the
inbound log, never recorded twice. Real processes and sockets on loopback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.devtools.emulator.players import dingtalk_callback
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.state import EmulatorState
from storage.db import make_engine, make_session_factory, transaction
from storage.models import InboundMessageRow, OutboxRow
from tests.support.campaign import DING_SECRET, campaign
from tests.support.toml import toml_text
from tests.support.waiting import wait_until
from tests.test_faults import _kill, _start_serve


def _message(state: EmulatorState, base_url: str, clock: FakeClock, msg_id: str) -> bytes:
    path = state.open_session(msg_id, clock.now() + timedelta(minutes=90))
    ms = int(clock.now().timestamp() * 1000)
    _, body = dingtalk_callback(
        DING_SECRET,
        msg_id=msg_id,
        sender_staff_id="ding-dangpanfeng",
        sender_nick="党攀峰",
        content="评分 实验初中共同体 92",
        create_at_ms=ms,
        timestamp_ms=ms,
        conversation_id="cidYuhong",
        session_webhook=base_url + path,
    )
    return body


@pytest.mark.fault
def test_acknowledged_messages_survive_kill_9_and_a_redelivery_is_not_recorded_twice(
    tmp_path: Path, clock: FakeClock
) -> None:
    db_url = f"sqlite:///{tmp_path / 'edubot.db'}"
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator:
        data = campaign(db_url)
        data["server"] = {"data_dir": str(tmp_path / "data")}
        data["dingtalk"] |= {"api_base": emulator.base_url, "mode": "stream"}
        state.dingtalk_app(data["dingtalk"]["app_key"], DING_SECRET, "dingrobot")
        config = tmp_path / "edubot.toml"
        config.write_text(toml_text(data), encoding="utf-8")
        hub = state.dingtalk_stream
        first = _start_serve(config, tmp_path, "first")
        try:
            hub.wait_for_peers(1, timeout=10)
            before = _message(state, emulator.base_url, clock, "d-before")
            assert hub.deliver(before)["code"] == 200
            _kill(first)
            wait_until(lambda: hub.peers() == 0)
            second = _start_serve(config, tmp_path, "second")
            try:
                hub.wait_for_peers(1, timeout=10)
                assert hub.deliver(before)["code"] == 200  # the gateway delivers it again
                after = _message(state, emulator.base_url, clock, "d-after")
                assert hub.deliver(after)["code"] == 200
            finally:
                _kill(second)
        finally:
            _kill(first)
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            inbound = dict(
                session.execute(
                    select(InboundMessageRow.message_id, func.count()).group_by(
                        InboundMessageRow.message_id
                    )
                ).all()
            )
            replies = session.scalars(
                select(OutboxRow.dedupe_key).where(OutboxRow.target_kind == "session")
            ).all()
    finally:
        engine.dispose()
    assert inbound == {"d-before": 1, "d-after": 1}
    # Each answer is queued once, durable with its message (sent by the outbox when it runs).
    assert sorted(replies) == ["reply:dingtalk:d-after", "reply:dingtalk:d-before"]
