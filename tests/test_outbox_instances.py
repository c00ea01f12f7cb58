"""Several ``edubot serve`` processes on one database send every push exactly once.

Three real serve processes drain one outbox of 100 due pushes into five WeCom group robots
(which have no idempotency aid, so a push claimed twice would arrive twice). Each must
arrive once, the work must really be shared between the processes, and no robot may get
more than 20 in a minute. Runs on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_services
from bot.clock import SystemClock
from bot.config import load_settings
from bot.devtools.emulator import EmulatorServer, EmulatorState
from handlers.messages import OutboundMessage
from handlers.pushes import enqueue
from storage.db import make_engine, make_session_factory, transaction
from storage.models import OutboxRow
from tests.test_outbox_kill import Serve, _assert_at_most_20_a_minute, wait_for

pytestmark = pytest.mark.fault

ROBOTS = 5
PUSHES = 100
INSTANCES = 3


def _config(tmp_path: Path, db_url: str, emulator_url: str) -> Path:
    lines = [
        'timezone = "Asia/Shanghai"',
        "[server]",
        f'data_dir = "{tmp_path / "data"}"',
        "[database]",
        f'url = "{db_url}"',
        "[wecom]",
        f'api_base = "{emulator_url}"',
        "[outbox]",
        "poll_seconds = 0.1",
    ]
    for n in range(ROBOTS):
        lines += ["[[groups]]", f'key = "g{n}"', 'platform = "wecom"', f'webhook = "key{n}"']
    path = tmp_path / "edubot.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    state = EmulatorState(SystemClock())
    for n in range(ROBOTS):
        state.add_wecom_webhook(f"key{n}")
    # Slow enough for the instances to overlap: one claims at most a lane of ten pushes per
    # robot at a time, which takes it a second here, while the others start.
    state.fault("webhook/send", delay_s=0.1)
    with EmulatorServer(state) as emu:
        yield emu


def test_three_instances_share_the_outbox_and_send_each_push_once(
    db_url: str, tmp_path: Path, emulator: EmulatorServer
) -> None:
    started = time.monotonic()
    config = _config(tmp_path, db_url, emulator.base_url)
    services = build_services(load_settings(config), clock=SystemClock())
    try:
        now = services.clock.now()
        with transaction(services.factory) as session:
            for i in range(PUSHES):
                message = OutboundMessage("wecom", "group", f"g{i % ROBOTS}", f"推送 {i:03d}")
                enqueue(session, message, dedupe_key=f"multi:{i:03d}", due_at=now, now=now)
    finally:
        services.engine.dispose()

    state = emulator.state
    servers = [Serve(config, tmp_path / f"serve{n}.log") for n in range(INSTANCES)]
    try:
        wait_for(
            "every push",
            lambda: len(state.messages(api="webhook/send")) >= PUSHES,
            servers[0],
            40,
        )
        time.sleep(0.5)  # a double send would arrive now
    finally:
        for server in servers:
            server.stop()

    texts = Counter(str(m.body["text"]["content"]) for m in state.messages(api="webhook/send"))
    assert texts == Counter(f"推送 {i:03d}" for i in range(PUSHES))
    refused = [r.status for r in state.attempts(api="webhook/send") if r.status != "ok"]
    assert refused == []
    by_robot: dict[str, list] = {}
    for m in state.messages(api="webhook/send"):
        by_robot.setdefault(m.target, []).append(m.at)
    _assert_at_most_20_a_minute(by_robot)

    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            rows = session.execute(select(OutboxRow.status, OutboxRow.claimed_by)).all()
    finally:
        engine.dispose()
    assert {status for status, _ in rows} == {"sent"}
    senders = Counter(claimed for _, claimed in rows)
    assert len(senders) >= 2, f"the work was not shared: {senders}"
    assert time.monotonic() - started < 60
