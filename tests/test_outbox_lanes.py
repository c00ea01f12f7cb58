"""The outbox as independent lanes (issue 17): one robot's trouble is no other robot's.

- A WeCom group robot that answers after 6 s (12 s, the issue's, with ``-m slow``; the
  platform received the push at once):
  the other robot's 20 pushes all arrive within 3 s, while the slow robot's first answer is
  still outstanding, and the slow robot's pushes each arrive once (no timeout, no re-send).
  This runs ``serve``'s background side (scheduler, lanes) on the real clock.
- Every request counts toward a robot's 20 a minute, answered or failed, across instances:
  two instances retrying a robot that fails every request, and a robot with an invalid key,
  never make more than 20 requests to it in any 60 s. These run on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock, SystemClock
from bot.config import ConfigError, OutboxSettings, settings_from_mapping
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.outbox import OutboxSender
from bot.planning.refresh import refresh, refreshes
from bot.platforms.router import build_router
from bot.runtime import attach_background, request_timeout
from handlers.messages import OutboundMessage
from handlers.pushes import enqueue
from storage.db import transaction
from storage.models import OutboxRow
from tests.support.campaign import campaign
from tests.test_outbox import emulated_settings, outbox_for

pytestmark = pytest.mark.fault

WINDOW = timedelta(seconds=60)
SLOW_S = 6.0  # the issue saw 12 s; any wait well past the fast robot's 3 s shows it
ISSUE_SLOW_S = 12.0
"""What the issue's slow robot took: an answer that late must not time out and be re-sent
(``-m slow`` runs the test with it)."""


class SlowRobot(httpx.BaseTransport):
    """The network to the emulator, where the robot ``key`` answers ``seconds`` late: the
    platform has the push at once, its answer comes after the wait."""

    def __init__(self, key: str, seconds: float) -> None:
        self._inner = httpx.HTTPTransport()
        self._key = key
        self._seconds = seconds
        self.waiting = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.url.params.get("key") == self._key:
            self.waiting.set()
            response.read()
            time.sleep(self._seconds)
        return response

    def close(self) -> None:
        self._inner.close()


def queue(services: Services, target: str, count: int, *, prefix: str) -> list[str]:
    """Queue ``count`` WeCom group pushes to ``target``, due now; their texts."""
    now = services.clock.now()
    texts = [f"{prefix} {n:02d}" for n in range(count)]
    with transaction(services.factory) as session:
        for text in texts:
            message = OutboundMessage("wecom", "group", target, text)
            assert enqueue(session, message, dedupe_key=f"lane:{text}", due_at=now, now=now)
    return texts


def arrivals(state: EmulatorState, prefix: str) -> list[tuple[str, datetime]]:
    return [
        (str(r.body["text"]["content"]), r.at)
        for r in state.messages(api="webhook/send")
        if str(r.body.get("text", {}).get("content", "")).startswith(prefix)
    ]


@pytest.mark.parametrize(
    "slow_s", [SLOW_S, pytest.param(ISSUE_SLOW_S, marks=pytest.mark.slow)], ids=["6s", "12s"]
)
def test_a_slow_robot_delays_no_other_and_each_of_its_pushes_arrives_once(
    sqlite_url: str, tmp_path: Path, slow_s: float
) -> None:
    state = EmulatorState(SystemClock())
    state.add_wecom_webhook("ruiquan-key")
    state.add_wecom_webhook("leaders-key")
    slow = SlowRobot("leaders-key", slow_s)
    with EmulatorServer(state) as emu, httpx.Client(transport=slow, timeout=30.0) as http:
        settings = emulated_settings(sqlite_url, tmp_path, emu.base_url)
        services = build_services(settings, clock=SystemClock())
        try:
            slow_texts = queue(services, "leaders", 2, prefix="慢")
            fast_texts = queue(services, "ruiquan", 20, prefix="快")
            attach_background(services, http=http)
            started = datetime.now(settings.tz)
            for part in services.background:
                part.start()
            assert slow.waiting.wait(30), "the slow robot was never sent to"
            deadline = time.monotonic() + 60
            while len(arrivals(state, "快")) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            fast = arrivals(state, "快")
            first_slow_answer = started + timedelta(seconds=slow_s)
            while len(arrivals(state, "慢")) < 2 and time.monotonic() < deadline + 30:
                time.sleep(0.1)
            deadline = time.monotonic() + 10  # the last slow push's answer and its mark
            while time.monotonic() < deadline and not _all_sent(services):
                time.sleep(0.1)
        finally:
            for part in reversed(services.background):
                part.stop()
            services.engine.dispose()

    assert sorted(text for text, _ in fast) == fast_texts
    assert max(at for _, at in fast) < first_slow_answer  # nobody waited for the slow robot
    assert max(at for _, at in fast) - started <= timedelta(seconds=3)
    assert sorted(text for text, _ in arrivals(state, "慢")) == slow_texts  # once each


def _all_sent(services: Services) -> bool:
    with transaction(services.factory) as session:
        return set(session.scalars(select(OutboxRow.status))) == {"sent"}


# --------------------------------------------------------------- every attempt counts


@pytest.fixture
def emulated(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[Services, EmulatorState, httpx.Client]]:
    """Services and the emulator on one fake clock; only the ``ruiquan`` robot's key is
    valid (``leaders-key`` is refused as an invalid webhook URL)."""
    state = EmulatorState(clock)
    state.add_wecom_webhook("ruiquan-key")
    with EmulatorServer(state) as emu, httpx.Client(timeout=5.0) as http:
        services = build_services(emulated_settings(db_url, tmp_path, emu.base_url), clock=clock)
        try:
            yield services, state, http
        finally:
            services.engine.dispose()


def instance(services: Services, http: httpx.Client, name: str, threads: int) -> OutboxSender:
    router = build_router(services.settings, http=http, clock=services.clock)
    tz = services.settings.tz
    return outbox_for(
        services,
        router,
        name,
        refresh=lambda session, intent, message, now: refresh(session, intent, message, now, tz=tz),
        refreshes=refreshes,
        send_threads=threads,
    )


def most_in_a_minute(times: list[datetime]) -> int:
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered[: i + 1] if t > end - WINDOW) for i, end in enumerate(ordered)),
        default=0,
    )


def run_two_instances(
    services: Services, http: httpx.Client, clock: FakeClock, minutes: int
) -> None:
    """Two instances (one sending in order, one in lanes) drain every second of
    ``minutes`` minutes of the fake clock."""
    senders = [instance(services, http, "a", 1), instance(services, http, "b", 4)]
    try:
        for _ in range(minutes * 60):
            for sender in senders:
                sender.drain_all()
            clock.advance(1)
    finally:
        for sender in senders:
            sender.close()


def test_failed_requests_count_toward_the_limit_across_instances(
    emulated: tuple[Services, EmulatorState, httpx.Client], clock: FakeClock
) -> None:
    services, state, http = emulated
    state.fault("webhook/send", errcode=-1)  # busy, retry: every request fails
    queue(services, "ruiquan", 30, prefix="重试")
    run_two_instances(services, http, clock, minutes=4)

    tried = [r.at for r in state.attempts(api="webhook/send", target="ruiquan-key")]
    assert len(tried) > 40, "the pushes were retried through the four minutes"
    assert most_in_a_minute(tried) <= services.settings.outbox.rate_per_minute


def test_a_robot_with_an_invalid_key_gets_no_more_than_the_limit(
    emulated: tuple[Services, EmulatorState, httpx.Client], clock: FakeClock
) -> None:
    services, state, http = emulated
    queue(services, "leaders", 30, prefix="无效")
    run_two_instances(services, http, clock, minutes=3)

    refused = state.attempts(api="webhook/send", target="leaders-key")
    tried = [r.at for r in refused]
    assert {r.status for r in refused} == {"93000"}
    assert len(tried) == 30  # each push tried once, then failed for good
    assert most_in_a_minute(tried) <= services.settings.outbox.rate_per_minute
    with transaction(services.factory) as session:
        statuses = session.scalars(
            select(OutboxRow.status).where(OutboxRow.dedupe_key.like("lane:%"))
        ).all()
    assert set(statuses) == {"failed"}


# --------------------------------------------------------------- leases and timeouts


@pytest.mark.parametrize(
    ("lease", "timeout", "ok"), [(90, 30, True), (60, 30, True), (59, 30, False)]
)
def test_the_lease_must_outlast_two_requests(
    sqlite_url: str, tmp_path: Path, lease: int, timeout: float, ok: bool
) -> None:
    data = campaign(sqlite_url)
    data["outbox"] = {"lease_seconds": lease, "request_timeout_s": timeout}
    if ok:
        assert settings_from_mapping(data).outbox.lease_seconds == lease
        return
    with pytest.raises(ConfigError) as error:
        settings_from_mapping(data)
    assert "request_timeout_s" in str(error.value)


def test_every_request_a_push_makes_is_bounded_by_the_request_timeout() -> None:
    default = OutboxSettings().request_timeout_s
    bound = request_timeout(default)
    phases = (bound.connect, bound.write, bound.pool, bound.read)
    assert all(phase is not None and phase > 0 for phase in phases)
    assert sum(p for p in phases if p is not None) == pytest.approx(default)
    assert bound.read is not None
    assert bound.read > ISSUE_SLOW_S  # the default timeout waits out the issue's 12 s robot
