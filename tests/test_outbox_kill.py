"""kill -9 of ``edubot serve`` with pushes pending: after a restart each is delivered once.

A real ``python -m bot serve`` process drains an SQLite outbox of 100 due pushes into five
signed DingTalk custom robots served by the loopback emulator (real clock, each answer
slowed a little so the kill lands mid-run). It is killed with SIGKILL part-way, restarted,
and must then deliver the rest: every push exactly once (DingTalk's ``msgUuid`` absorbs the
one that was in flight when the process died), at most 20 per minute per robot, and the
database shows every row ``sent``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_services
from bot.clock import SystemClock
from bot.config import load_settings
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.platforms.dingtalk.render import msg_uuid
from handlers.messages import OutboundMessage
from handlers.pushes import enqueue
from storage.db import make_engine, make_session_factory, transaction
from storage.models import OutboxRow

pytestmark = pytest.mark.fault

REPO = Path(__file__).resolve().parent.parent
ROBOTS = 5
PUSHES = 100  # 20 per robot: the whole run fits one rate window
KILL_AFTER = 25
SEND_DELAY_S = 0.03


def drain_config(tmp_path: Path, database: str, platform: list[str]) -> list[str]:
    """A serve config's lines for a kill test: SQLite ``database`` under ``tmp_path``, the
    ``platform`` section's lines, and an outbox whose killed claims come back quickly."""
    return [
        'timezone = "Asia/Shanghai"',
        "[server]",
        'host = "127.0.0.1"',
        f'data_dir = "{tmp_path / "data"}"',
        "[database]",
        f'url = "sqlite:///{tmp_path / database}"',
        *platform,
        "[outbox]",
        "poll_seconds = 0.2",
        "lease_seconds = 6",  # the rows claimed by the killed process come back quickly
        "request_timeout_s = 3",  # (the lease must outlast two); shorter times out on a busy machine
    ]


def write_config(tmp_path: Path, emulator_url: str) -> Path:
    dingtalk = ["[dingtalk]", f'api_base = "{emulator_url}"', f'oapi_base = "{emulator_url}"']
    lines = drain_config(tmp_path, "kill.db", dingtalk)
    for n in range(ROBOTS):
        lines += [
            "[[groups]]",
            f'key = "robot{n}"',
            'platform = "dingtalk"',
            f'webhook = "token{n}"',
            f'secret = "SECrobot{n}"',
        ]
    path = tmp_path / "edubot.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def prefill(config: Path) -> dict[str, str]:
    """Migrate, sync and queue the pushes, as an earlier run would have; dedupe key → text."""
    services = build_services(load_settings(config), clock=SystemClock())
    expected: dict[str, str] = {}
    try:
        now = services.clock.now()
        with transaction(services.factory) as session:
            for i in range(PUSHES):
                key, text = f"kill:{i:03d}", f"推送 {i:03d}"
                message = OutboundMessage("dingtalk", "group", f"robot{i % ROBOTS}", text)
                assert enqueue(session, message, dedupe_key=key, due_at=now, now=now)
                expected[key] = text
    finally:
        services.engine.dispose()
    return expected


class Serve:
    """One ``edubot serve`` process (HTTP on an ephemeral port), its output in a log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            command = [sys.executable, "-m", "bot", "serve", "--config", str(config)]
            self.proc = subprocess.Popen(
                [*command, "--port", "0", "--workers", "1"],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


def wait_for(what: str, check: Callable[[], bool], serve: Serve, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert serve.alive(), f"serve exited while waiting for {what}:\n{serve.tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{serve.tail()}"
        time.sleep(0.01)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    state = EmulatorState(SystemClock())
    for n in range(ROBOTS):
        state.add_dingtalk_robot(f"token{n}", f"SECrobot{n}")
    state.fault("robot/send", delay_s=SEND_DELAY_S)  # every call, until the test ends
    with EmulatorServer(state) as emu:
        yield emu


def test_kill_9_and_restart_delivers_each_push_exactly_once(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    started = time.monotonic()
    state = emulator.state
    config = write_config(tmp_path, emulator.base_url)
    expected = prefill(config)
    log = tmp_path / "serve.log"

    def delivered() -> int:
        return len(state.messages(api="robot/send"))

    first = Serve(config, log)
    try:
        wait_for(f"{KILL_AFTER} deliveries", lambda: delivered() >= KILL_AFTER, first, 30)
        first.kill9()
    finally:
        first.stop()
    at_kill = delivered()
    assert KILL_AFTER <= at_kill < PUSHES, "the kill must land part-way through"

    second = Serve(config, log)
    try:
        wait_for("every push", lambda: delivered() >= PUSHES, second, 30)
        wait_for("the database to settle", lambda: _statuses(config) == {"sent"}, second, 30)
    finally:
        second.stop()

    messages = state.messages(api="robot/send")
    uuids = Counter(str(m.body["msgUuid"]) for m in messages)
    assert uuids == Counter({msg_uuid(key): 1 for key in expected})
    texts = Counter(str(m.body["text"]["content"]) for m in messages)
    assert texts == Counter(expected.values())
    refusals = [r for r in state.attempts(api="robot/send") if r.status not in ("ok", "duplicate")]
    assert refusals == [], "the outbox ran into the platform's limit"
    _assert_at_most_20_a_minute(_times(state))
    assert time.monotonic() - started < 60


def _statuses(config: Path) -> set[str]:
    engine = make_engine(load_settings(config).database.url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return set(session.scalars(select(OutboxRow.status)))
    finally:
        engine.dispose()


def _times(state: EmulatorState) -> dict[str, list[datetime]]:
    times: dict[str, list[datetime]] = defaultdict(list)
    for m in state.messages(api="robot/send"):
        times[m.target].append(m.at)
    return times


def _assert_at_most_20_a_minute(messages_by_robot: dict[str, list[datetime]]) -> None:
    assert len(messages_by_robot) == ROBOTS
    for robot, times in messages_by_robot.items():
        ordered = sorted(times)
        for i, end in enumerate(ordered):
            inside = [t for t in ordered[: i + 1] if t > end - timedelta(seconds=60)]
            assert len(inside) <= 20, f"{robot}: {len(inside)} in the minute up to {end}"
