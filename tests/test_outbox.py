"""The durable outbox (PRODUCT §5) on SQLite, PostgreSQL and MariaDB.

Every push once, at most 20 per minute per robot, through throttling, outages and concurrent
senders; pushes whose reason is gone are dropped; re-syncing the config plans nothing twice;
pushes that fell due during downtime are sent within the grace and dropped after it.

Time only moves by ``FakeClock``; senders are drained with ``drain_all`` (no scheduler, no
sleeps). Concurrency is three ``OutboxSender`` instances in three threads on one database.
Platform behaviour comes from the loopback emulator with the real senders.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import storage.outbox
from bot.app import Services, build_services
from bot.clock import Clock, FakeClock, SystemClock
from bot.config import OutboxSettings, Settings, settings_from_mapping
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.devtools.emulator.records import Recorded
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.outbox import DrainStats, OutboxSender
from bot.platforms.dingtalk.robot_sender import DingTalkSessionSender
from bot.platforms.dingtalk.sign import signed_robot_url
from bot.runtime import attach_background, make_outbox, plan_on_start
from bot.scheduler import Scheduler
from handlers.messages import OutboundMessage, Platform
from handlers.pushes import enqueue
from storage.db import transaction
from storage.errors import StorageUnavailable
from storage.models import OutboxRate, OutboxRow
from storage.people import venue_by_key
from tests.conftest import make_settings
from tests.support.campaign import campaign

TZ = ZoneInfo("Asia/Shanghai")
WINDOW = timedelta(seconds=60)
LIMIT = 20

SEND_THREADS = OutboxSettings().send_threads
"""What ``edubot serve`` runs by default."""


def local(text: str) -> datetime:
    """``"2022-02-12 18:00"`` in Shanghai, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


# ------------------------------------------------------------------------------ helpers


@dataclass(frozen=True)
class Sent:
    dedupe_key: str
    rate_key: str
    at: datetime
    by: str


class SendLog:
    """What every fake sender delivered, in order. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[Sent] = []

    def add(self, item: Sent) -> None:
        with self._lock:
            self._sent.append(item)

    @property
    def sent(self) -> list[Sent]:
        with self._lock:
            return list(self._sent)


class RecordingSender:
    """A fake ``Sender``: one robot per target, every send recorded with the clock time."""

    def __init__(self, log: SendLog, clock: Clock, name: str) -> None:
        self._log = log
        self._clock = clock
        self._name = name

    def rate_key(self, message: OutboundMessage) -> str:
        return f"fake:{message.target}"

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        self._log.add(Sent(dedupe_key, self.rate_key(message), self._clock.now(), self._name))


def outbox_for(services: Services, sender: Any, name: str, **kwargs: Any) -> OutboxSender:
    return OutboxSender(
        services.factory,
        sender,
        clock=services.clock,
        settings=services.settings.outbox,
        instance=name,
        **kwargs,
    )


def push(
    services: Services,
    items: Iterable[tuple[str, str]],
    *,
    due_at: datetime,
    platform: Platform = "wecom",
    reason: str = "",
) -> None:
    """Enqueue ``(dedupe_key, target)`` group pushes in one transaction."""
    now = services.clock.now()
    with transaction(services.factory) as session:
        for key, target in items:
            message = OutboundMessage(platform, "group", target, f"推送 {key}")
            assert enqueue(session, message, dedupe_key=key, due_at=due_at, now=now, reason=reason)


def rows(services: Services) -> dict[str, OutboxRow]:
    with transaction(services.factory) as session:
        return {r.dedupe_key: r for r in session.scalars(select(OutboxRow))}


def count_rows(services: Services) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


def assert_rate(times_by_key: dict[str, list[datetime]], limit: int = LIMIT) -> None:
    """No key got more than ``limit`` sends within any 60 seconds."""
    for key, times in times_by_key.items():
        ordered = sorted(times)
        for i, end in enumerate(ordered):
            inside = [t for t in ordered[: i + 1] if t > end - WINDOW]
            assert len(inside) <= limit, f"{key}: {len(inside)} sends in the 60 s up to {end}"


def run_concurrently(jobs: list[Callable[[], DrainStats]]) -> list[DrainStats]:
    """Start every job at the same moment in its own thread; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    results: list[DrainStats | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = jobs[index]()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(i,), name=f"sender-{i}") for i in range(len(jobs))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a sender thread hung"
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


# -------------------------------------------------------------- three concurrent senders


@pytest.mark.parametrize("send_threads", [1, 4])
def test_three_senders_deliver_1000_pushes_once_within_the_rate_limit(
    services: Services, clock: FakeClock, send_threads: int
) -> None:
    # 50 robots with 18 pushes each, and 25 more for each of the first four (43 each):
    # those four need three minutes, everyone else is done in the first.
    targets = [f"group{n:02d}" for n in range(50)]
    items = [(f"p{i:04d}", targets[i % 50] if i < 900 else targets[i % 4]) for i in range(1000)]
    push(services, items, due_at=clock.now())
    log = SendLog()
    senders = [
        outbox_for(
            services,
            RecordingSender(log, clock, f"inst{n}"),
            f"inst{n}",
            send_threads=send_threads,
        )
        for n in range(3)
    ]

    per_round: list[int] = []
    for _ in range(3):
        before = len(log.sent)
        stats = run_concurrently([partial(s.drain_all, batch=10) for s in senders])
        per_round.append(len(log.sent) - before)
        assert sum(s.sent for s in stats) == per_round[-1]
        # Nothing else may go this minute, whoever asks.
        assert senders[0].drain_all().handled == 0
        clock.advance(61)

    for sender in senders:
        sender.close()
    assert per_round == [46 * 18 + 4 * LIMIT, 4 * LIMIT, 4 * 3]
    sent = log.sent
    assert Counter(s.dedupe_key for s in sent) == Counter({key: 1 for key, _ in items})
    times: dict[str, list[datetime]] = defaultdict(list)
    for s in sent:
        times[s.rate_key].append(s.at)
    assert_rate(times)
    assert {s.by for s in sent} <= {"inst0", "inst1", "inst2"}
    final = rows(services)
    assert {r.status for r in final.values()} == {"sent"}
    assert {r.attempts for r in final.values()} == {1}


def test_a_robot_with_a_backlog_does_not_hold_up_the_others(
    services: Services, clock: FakeClock
) -> None:
    # 300 pushes for one robot fell due first; one push for another robot comes after them.
    push(services, [(f"busy{i:03d}", "busy") for i in range(300)], due_at=clock.now())
    push(services, [("quiet", "quiet")], due_at=clock.now() + timedelta(seconds=1))
    clock.advance(2)
    log = SendLog()
    stats = outbox_for(services, RecordingSender(log, clock, "one"), "one").drain_all()
    assert stats.sent == LIMIT + 1
    assert "quiet" in {s.dedupe_key for s in log.sent}


def test_two_dingtalk_sessions_on_one_host_have_a_budget_each(
    sqlite_services: Services, clock: FakeClock
) -> None:
    # DingTalk limits each robot session; two sessionWebhooks differ only in their query.
    services = sqlite_services
    sessions = [f"https://oapi.dingtalk.com/robot/sendBySession?session={s}" for s in "AB"]
    now = clock.now()
    with transaction(services.factory) as session:
        for i in range(LIMIT + 5):
            for url in sessions:
                message = OutboundMessage("dingtalk", "session", url, f"回复 {i}")
                enqueue(session, message, dedupe_key=f"{url[-1]}{i}", due_at=now, now=now)
    posted: Counter[str] = Counter()

    def answer(request: httpx.Request) -> httpx.Response:
        posted[request.url.params["session"]] += 1
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        outbox = outbox_for(services, DingTalkSessionSender(http=http), "sessions")
        try:
            outbox.drain_all()
        finally:
            outbox.close()
    assert posted == Counter({"A": LIMIT, "B": LIMIT})


def test_a_push_left_sending_by_a_crashed_sender_is_sent_after_its_lease(
    services: Services, clock: FakeClock
) -> None:
    push(services, [("orphan", "g1"), ("fresh", "g2")], due_at=clock.now())
    with transaction(services.factory) as session:
        for row in session.scalars(select(OutboxRow)):
            row.status = "sending"
            row.attempts = 1
            row.claimed_by = "dead:1"
            row.rate_key = f"fake:{row.target}"
            lease = 5 if row.dedupe_key == "orphan" else 120
            row.lease_until = clock.now() + timedelta(seconds=lease)
    log = SendLog()
    outbox = outbox_for(services, RecordingSender(log, clock, "new"), "new")
    assert outbox.drain_all().handled == 0  # both leases still run
    clock.advance(10)
    assert outbox.drain_all().sent == 1
    assert [s.dedupe_key for s in log.sent] == ["orphan"]
    assert rows(services)["orphan"].attempts == 2


def test_two_instances_creating_the_same_lock_row_both_carry_on(
    services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The very first claim of two instances at once (the claim lock row does not exist yet).

    Both first look the row up and only then create it. On MariaDB a locking read of a
    missing row takes a gap lock, so if both read with ``FOR UPDATE`` their inserts deadlock
    and one drain fails. The interleaving is forced: each thread's first ``Session.get``
    waits for the other's.
    """
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time: the interleaving cannot happen")
    push(services, [("first", "g1"), ("second", "g2")], due_at=clock.now())
    barrier = threading.Barrier(2)
    seen = threading.local()
    real_get = Session.get

    def get(self: Session, *args: Any, **kwargs: Any) -> Any:
        found = real_get(self, *args, **kwargs)
        if not getattr(seen, "once", False):
            seen.once = True
            barrier.wait(timeout=10)
        return found

    monkeypatch.setattr(Session, "get", get)
    log = SendLog()
    senders = [outbox_for(services, RecordingSender(log, clock, f"i{n}"), f"i{n}") for n in (1, 2)]
    stats = run_concurrently([s.drain for s in senders])
    assert sum(s.sent for s in stats) == 2
    assert sorted(s.dedupe_key for s in log.sent) == ["first", "second"]


# ------------------------------------------------------------------------ grace and restart


def test_downtime_past_the_grace_drops_and_within_it_sends(
    services: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert services.settings.outbox.grace == "6h"
    now = clock.now()
    push(services, [("late7h", "g1")], due_at=now - timedelta(hours=7))
    push(services, [("late5h", "g2")], due_at=now - timedelta(hours=5))
    log = SendLog()
    with caplog.at_level(logging.INFO, logger="edubot.outbox"):
        outbox_for(services, RecordingSender(log, clock, "x"), "x").drain_all()
    assert [s.dedupe_key for s in log.sent] == ["late5h"]
    final = rows(services)
    assert final["late7h"].status == "dropped"
    assert "grace" in final["late7h"].last_error
    assert final["late5h"].status == "sent"
    assert any("late7h" in r.getMessage() and "grace" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------- parallel sending


class ScriptedSender(RecordingSender):
    """Records like ``RecordingSender``; fails the targets it is told to, tracks how many
    sends of one robot are in flight at once, and can hold the first send of each of
    ``meet`` robots until all of them are in flight (which needs parallel sending)."""

    def __init__(
        self,
        log: SendLog,
        clock: FakeClock,
        *,
        failures: dict[str, list[Exception]] | None = None,
        meet: int = 0,
    ) -> None:
        super().__init__(log, clock, "scripted")
        self._failures = failures or {}
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(meet, timeout=10) if meet else None
        self._met: set[str] = set()
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        key = self.rate_key(message)
        with self._lock:
            self.calls[message.target] += 1
            self.in_flight[key] += 1
            self.most_in_flight[key] = max(self.most_in_flight[key], self.in_flight[key])
            first = key not in self._met
            self._met.add(key)
            planned = self._failures.get(message.target)
            failure = planned.pop(0) if planned else None
        try:
            if first and self._barrier is not None:
                self._barrier.wait()  # BrokenBarrierError (a failed send) if not parallel
            if failure is not None:
                raise failure
            super().send(message, dedupe_key=dedupe_key)
        finally:
            with self._lock:
                self.in_flight[key] -= 1


def test_parallel_sending_overlaps_robots_and_keeps_each_robots_order(
    sqlite_services: Services, clock: FakeClock
) -> None:
    services = sqlite_services
    # Four robots, five pushes each, queued interleaved (robot0, robot1, ..., robot0, ...).
    items = [(f"r{n}-{i}", f"robot{n}") for i in range(5) for n in range(4)]
    push(services, items, due_at=clock.now())
    log = SendLog()
    sender = ScriptedSender(log, clock, meet=4)
    outbox = outbox_for(services, sender, "par", send_threads=4)
    try:
        stats = outbox.drain_all()
    finally:
        outbox.close()

    assert stats == DrainStats(sent=20)
    by_robot: dict[str, list[str]] = defaultdict(list)
    for s in log.sent:
        by_robot[s.rate_key].append(s.dedupe_key)
    assert by_robot == {f"fake:robot{n}": [f"r{n}-{i}" for i in range(5)] for n in range(4)}
    assert set(sender.most_in_flight.values()) == {1}  # one robot's pushes never race
    assert {r.status for r in rows(services).values()} == {"sent"}


def test_a_pass_with_a_permanent_and_a_retryable_failure_settles_each_row(
    services: Services, clock: FakeClock
) -> None:
    start = clock.now()
    push(
        services,
        [("ok1", "ok1"), ("ok2", "ok2"), ("bad", "bad"), ("busy1", "busy"), ("busy2", "busy")],
        due_at=start,
    )
    failures: dict[str, list[Exception]] = {
        "bad": [PermanentDelivery("wecom webhook: errcode 93000", code=93000)],
        "busy": [RetryableDelivery("wecom webhook: errcode 45009", code=45009, retry_after=60)],
    }
    log = SendLog()
    sender = ScriptedSender(log, clock, failures=failures)
    outbox = outbox_for(services, sender, "par", send_threads=4)
    try:
        # One pass, four lanes: busy2 waits for busy1 in its robot's lane and finds the
        # robot blocked by then.
        stats = outbox.drain()
    finally:
        outbox.close()

    assert stats == DrainStats(sent=2, retried=2, failed=1)
    assert sorted(s.dedupe_key for s in log.sent) == ["ok1", "ok2"]
    assert sender.calls == Counter({"ok1": 1, "ok2": 1, "bad": 1, "busy": 1})
    final = rows(services)
    for key in ("ok1", "ok2"):
        assert final[key].status == "sent"
        assert final[key].sent_at == start
        assert final[key].lease_until is None
    assert final["bad"].status == "failed"
    assert "93000" in final["bad"].last_error
    assert final["busy1"].status == "pending"
    assert final["busy1"].attempts == 1
    assert final["busy1"].due_at >= start + timedelta(seconds=60)
    assert "45009" in final["busy1"].last_error
    # Given back untouched: not an attempt, due when the block ends.
    assert final["busy2"].status == "pending"
    assert final["busy2"].attempts == 0
    assert final["busy2"].due_at == start + timedelta(seconds=60)
    with transaction(services.factory) as session:
        state = session.get(OutboxRate, "fake:busy")
        assert state is not None
        assert state.blocked_until == start + timedelta(seconds=60)

    # The block holds in the database too, then both busy pushes go, in order.
    again = outbox_for(services, RecordingSender(log, clock, "again"), "again", send_threads=4)
    try:
        assert again.drain_all().handled == 0
        clock.advance(61)
        assert again.drain_all().sent == 2
    finally:
        again.close()
    assert [s.dedupe_key for s in log.sent if s.rate_key == "fake:busy"] == ["busy1", "busy2"]


class MarkedFirst(RecordingSender):
    """Records like ``RecordingSender`` and notes every send that finds an earlier push to
    its robot delivered but not yet marked ``sent`` (what a crash at that instant would
    send twice, besides the one in flight)."""

    def __init__(self, log: SendLog, clock: FakeClock, services: Services) -> None:
        super().__init__(log, clock, "checked")
        self._factory = services.factory
        self.unmarked_before: list[str] = []

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        key = self.rate_key(message)
        earlier = [s.dedupe_key for s in self._log.sent if s.rate_key == key]
        if earlier:
            with transaction(self._factory) as session:
                statuses = session.scalars(
                    select(OutboxRow.status).where(OutboxRow.dedupe_key.in_(earlier))
                ).all()
            if any(status != "sent" for status in statuses):
                self.unmarked_before.append(dedupe_key)
        super().send(message, dedupe_key=dedupe_key)


@pytest.mark.parametrize("send_threads", [1, 4])
def test_each_push_is_marked_before_the_next_goes_to_its_robot(
    sqlite_services: Services, clock: FakeClock, send_threads: int
) -> None:
    services = sqlite_services
    items = [(f"o{n:02d}", f"grp{g}") for n, g in enumerate([0, 1, 2, 0, 0, 1, 3, 2, 1, 0] * 2)]
    push(services, items, due_at=clock.now())
    log = SendLog()
    sender = MarkedFirst(log, clock, services)
    outbox = outbox_for(services, sender, "one", send_threads=send_threads)
    try:
        assert outbox.drain_all().sent == len(items)
    finally:
        outbox.close()
    assert sender.unmarked_before == []
    if send_threads == 1:  # one by one: in the order queued
        assert [s.dedupe_key for s in log.sent] == [key for key, _ in items]
    assert {r.status for r in rows(services).values()} == {"sent"}


@pytest.mark.parametrize("send_threads", [1, 4])
def test_a_crash_with_marks_unwritten_re_sends_at_most_one_push_per_group(
    sqlite_services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, send_threads: int
) -> None:
    """Ten pushes to each of four groups; after two marks the database refuses every
    further one, and then the process dies. After the lease each undelivered push arrives,
    and what was delivered and never marked arrives again: at most one per group."""
    services = sqlite_services
    items = [(f"q{g}-{n}", f"grp{g}") for n in range(10) for g in range(4)]
    push(services, items, due_at=clock.now())
    settings = OutboxSettings(lease_seconds=2, request_timeout_s=1)
    real = storage.outbox.finish
    marks = {"left": 2}

    def refusing(session: Any, ids: Any, status: str, *args: Any) -> None:
        if status == "sent":
            if marks["left"] <= 0:
                raise StorageUnavailable("database is locked")
            marks["left"] -= 1
        real(session, ids, status, *args)

    monkeypatch.setattr(storage.outbox, "finish", refusing)
    first = SendLog()
    doomed = OutboxSender(
        services.factory,
        RecordingSender(first, clock, "doomed"),
        clock=clock,
        settings=settings,
        instance="doomed",
        send_threads=send_threads,
    )
    doomed.drain_all()
    doomed.close()  # the mark writer gives up: the process is gone
    monkeypatch.setattr(storage.outbox, "finish", real)

    clock.advance(settings.lease_seconds + 1)
    second = SendLog()
    outbox_for(services, RecordingSender(second, clock, "new"), "new").drain_all()
    sends = Counter(s.dedupe_key for s in first.sent + second.sent)
    assert set(sends) == {key for key, _ in items}
    repeated = Counter(key.split("-")[0] for key, n in sends.items() if n > 1)
    assert repeated, "pushes were delivered and never marked: they must go again"
    assert max(repeated.values()) == 1  # per group
    assert {r.status for r in rows(services).values()} == {"sent"}


class SlowSender(RecordingSender):
    """Each send takes ``seconds`` of the fake clock, like a platform answering slowly."""

    def __init__(self, log: SendLog, clock: FakeClock, name: str, seconds: float) -> None:
        super().__init__(log, clock, name)
        self._seconds = seconds

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        super().send(message, dedupe_key=dedupe_key)
        self._clock.advance(self._seconds)


def test_a_slow_batch_keeps_its_leases_so_another_instance_sends_nothing_twice(
    services: Services, clock: FakeClock
) -> None:
    """30 pushes at 5 s each outlast the 60 s lease twice over. Another instance draining
    meanwhile (here: between every two sends) must find nothing of them to take."""
    items = [(f"s{i:02d}", f"g{i:02d}") for i in range(30)]
    push(services, items, due_at=clock.now())
    log = SendLog()
    other = outbox_for(services, RecordingSender(log, clock, "other"), "other")

    class Watched(SlowSender):
        def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
            super().send(message, dedupe_key=dedupe_key)
            other.drain_all()  # the other instance polls while this one is busy

    slow = outbox_for(services, Watched(log, clock, "slow", 5.0), "slow")
    assert slow.drain(batch=50).sent == 30
    sends = Counter(s.dedupe_key for s in log.sent)
    assert sends == Counter({key: 1 for key, _ in items})
    assert {s.by for s in log.sent} == {"slow"}
    assert {r.status for r in rows(services).values()} == {"sent"}


def test_marks_the_database_refused_are_written_before_the_next_claim(
    sqlite_services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushes delivered while the database is busy stay claimed, and are marked sent on the
    next pass instead of being sent again."""
    services = sqlite_services
    push(services, [("m1", "g1"), ("m2", "g2")], due_at=clock.now())
    log = SendLog()
    outbox = outbox_for(services, RecordingSender(log, clock, "one"), "one")
    real = storage.outbox.finish
    busy = {"on": True}

    def flaky(session: Any, ids: Any, status: str, *args: Any) -> None:
        if status == "sent" and busy["on"]:
            raise StorageUnavailable("database is locked")
        real(session, ids, status, *args)

    monkeypatch.setattr(storage.outbox, "finish", flaky)
    assert outbox.drain().sent == 2
    assert {r.status for r in rows(services).values()} == {"sending"}
    busy["on"] = False
    clock.advance(1)
    assert outbox.drain().handled == 0  # nothing new: the two are marked, not re-sent
    assert {r.status for r in rows(services).values()} == {"sent"}
    assert [s.dedupe_key for s in log.sent] == ["m1", "m2"]


def test_serve_wires_the_configured_number_of_send_threads(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data = campaign(sqlite_url)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    data["outbox"] = {"send_threads": 7}
    services = build_services(settings_from_mapping(data), clock=clock)
    try:
        outbox = attach_background(services)
        assert outbox.send_threads == 7
        with httpx.Client() as http:
            assert make_outbox(services, http).send_threads == 1  # demo, tests
    finally:
        for part in services.background:
            part.stop()
        services.engine.dispose()


# -------------------------------------------------------------------- against the emulator


def emulated_settings(db_url: str, tmp_path: Path, base_url: str, **overrides: Any) -> Settings:
    data = campaign(db_url, **overrides)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    data["wecom"] = {**data["wecom"], "api_base": base_url}
    data["dingtalk"] = {**data["dingtalk"], "api_base": base_url, "oapi_base": base_url}
    return settings_from_mapping(data)


@dataclass
class World:
    """Services, the real senders and the emulator, all on one fake clock."""

    db_url: str
    tmp_path: Path
    clock: FakeClock
    state: EmulatorState
    base_url: str
    http: httpx.Client
    services: Services
    opened: list[Services]
    send_threads: int = 1

    @property
    def outbox(self) -> OutboxSender:
        return make_outbox(self.services, self.http, send_threads=self.send_threads)

    def resync(self, **overrides: Any) -> Services:
        """Restart with a (changed) config: sync it and plan the venue reminders again."""
        settings = emulated_settings(self.db_url, self.tmp_path, self.base_url, **overrides)
        self.services = build_services(settings, clock=self.clock)
        self.opened.append(self.services)
        return self.services

    def run_until(self, end: datetime, step: float = 15.0) -> None:
        """Drain, then move the clock by ``step`` seconds, until ``end``."""
        outbox = self.outbox
        try:
            while self.clock.now() < end:
                outbox.drain_all()
                self.clock.advance(step)
            outbox.drain_all()
        finally:
            outbox.close()


@contextmanager
def make_world(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[World]:
    state = EmulatorState.from_settings(make_settings(db_url, tmp_path), clock)
    with EmulatorServer(state) as emu, httpx.Client(timeout=5.0) as http:
        settings = emulated_settings(db_url, tmp_path, emu.base_url)
        services = build_services(settings, clock=clock)
        w = World(db_url, tmp_path, clock, state, emu.base_url, http, services, [services])
        try:
            yield w
        finally:
            for svc in w.opened:
                svc.engine.dispose()


@pytest.fixture
def world(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[World]:
    """On each database."""
    with make_world(db_url, tmp_path, clock) as w:
        yield w


@pytest.fixture
def sqlite_world(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[World]:
    """On SQLite only, for behaviour the database does not change."""
    with make_world(sqlite_url, tmp_path, clock) as w:
        yield w


def delivered_texts(records: list[Recorded]) -> Counter[str]:
    texts: Counter[str] = Counter()
    for r in records:
        body = r.body
        texts[body["text"]["content"] if body["msgtype"] == "text" else str(body)] += 1
    return texts


def assert_platform_rate(state: EmulatorState) -> None:
    times: dict[str, list[datetime]] = defaultdict(list)
    for r in state.messages():
        times[f"{r.api}:{r.target}"].append(r.at)
    assert_rate(times)


@pytest.mark.parametrize("send_threads", [1, SEND_THREADS])
def test_throttling_and_an_outage_lose_nothing_and_repeat_nothing(
    world: World, send_threads: int
) -> None:
    world.send_threads = send_threads
    clock, state = world.clock, world.state
    start = clock.now()
    items = [(f"w{i:02d}", "leaders") for i in range(30)]
    items += [(f"d{i:02d}", "yuhong") for i in range(30)]
    push(world.services, items[:30], due_at=start)
    push(world.services, items[30:], due_at=start, platform="dingtalk")
    state.fault("webhook/send", errcode=45009, times=3)
    state.fault("robot/send", http_status=502, times=2)
    world.run_until(start)
    state.down(True)
    world.run_until(start + timedelta(minutes=5))
    assert not state.messages() or max(r.at for r in state.messages()) < start + timedelta(
        seconds=1
    )
    state.down(False)
    world.run_until(start + timedelta(minutes=40), step=30)

    expected = Counter({f"推送 {key}": 1 for key, _ in items})
    assert delivered_texts(state.messages()) == expected
    assert_platform_rate(state)
    refusals = Counter(r.status for r in state.attempts() if r.status not in ("ok", "http_503"))
    # Only the injected faults: the outbox itself never ran into a platform limit.
    assert refusals == Counter({"45009": 3, "http_502": 2})
    assert {r.status for r in rows(world.services).values()} == {"sent"}


def test_more_than_twenty_for_one_robot_go_over_several_minutes(sqlite_world: World) -> None:
    world = sqlite_world
    clock, state = world.clock, world.state
    push(world.services, [(f"w{i:02d}", "leaders") for i in range(45)], due_at=clock.now())
    push(
        world.services,
        [(f"d{i:02d}", "yuhong") for i in range(45)],
        due_at=clock.now(),
        platform="dingtalk",
    )
    outbox = world.outbox
    counts = []
    for _ in range(4):
        outbox.drain_all()
        counts.append(len(state.messages()))
        clock.advance(60)
    assert counts == [40, 80, 90, 90]
    assert {r.status for r in state.attempts()} == {"ok"}  # never a 45009 or a 410100
    assert_platform_rate(state)


@pytest.mark.parametrize("send_threads", [1, SEND_THREADS])
def test_after_a_dingtalk_block_nothing_goes_to_that_robot_for_ten_minutes(
    world: World, send_threads: int
) -> None:
    world.send_threads = send_threads
    clock, state = world.clock, world.state
    start = clock.now()
    push(
        world.services,
        [(f"d{i:02d}", "yuhong") for i in range(25)],
        due_at=start,
        platform="dingtalk",
    )
    push(world.services, [(f"w{i:02d}", "leaders") for i in range(5)], due_at=start)
    state.fault("robot/send", errcode=410100, times=1)
    world.run_until(start + timedelta(minutes=30))

    robot = state.attempts(api="robot/send")
    blocked = [i for i, r in enumerate(robot) if r.status == "410100"]
    assert len(blocked) == 1
    blocked_at = robot[blocked[0]].at
    later = robot[blocked[0] + 1 :]
    during = [r for r in later if r.at < blocked_at + timedelta(minutes=10)]
    assert during == [], f"{len(during)} sends to a blocked robot"
    assert len(state.messages(api="webhook/send")) == 5  # other robots carry on
    assert delivered_texts(state.messages(api="robot/send")) == Counter(
        {f"推送 d{i:02d}": 1 for i in range(25)}
    )
    assert_platform_rate(state)


def test_a_robot_someone_else_used_up_is_left_alone_until_its_block_ends(
    sqlite_world: World,
) -> None:
    world = sqlite_world
    clock, state = world.clock, world.state
    start = clock.now()
    for n in range(LIMIT):  # another system used yuhong's robot for its 20 this minute
        url = signed_robot_url(world.base_url, "yuhong-token", "SECyuhong", clock.now())
        answer = world.http.post(url, json={"msgtype": "text", "text": {"content": f"别人 {n}"}})
        assert answer.json()["errcode"] == 0
    push(world.services, [(f"d{i}", "yuhong") for i in range(5)], due_at=start, platform="dingtalk")
    world.run_until(start + timedelta(minutes=15), step=30)

    ours = [r for r in state.attempts(api="robot/send") if "推送" in str(r.body)]
    assert ours[0].status == "410100"
    assert all(r.at >= start + timedelta(minutes=10) for r in ours[1:])
    assert Counter(r.status for r in ours) == {"410100": 1, "ok": 5}


# -------------------------------------------------------------- reminders: reason and re-sync


def test_a_rescheduled_venue_gets_new_reminders_and_the_old_ones_are_never_sent(
    world: World,
) -> None:
    clock, state = world.clock, world.state
    clock.set(local("2022-02-11 12:00"))
    assert plan_on_start(world.services) == 4
    moved = campaign(world.db_url)["venues"]
    moved[0] = {**moved[0], "starts_at": "2022-02-14 08:00"}
    services = world.resync(venues=moved)
    assert plan_on_start(services) == 2
    assert count_rows(services) == 6

    world.run_until(local("2022-02-14 08:00"), step=600)

    ruiquan = [r.body["text"]["content"] for r in state.messages(target="ruiquan-key")]
    yuhong = [r.body["text"]["content"] for r in state.messages(target="yuhong-token")]
    assert len(ruiquan) == 2
    assert all("时间：2月14日（周一）08:00" in text for text in ruiquan)
    assert len(yuhong) == 2
    assert all("时间：2月13日（周日）08:00" in text for text in yuhong)
    final = rows(services)
    old = [
        r for key, r in final.items() if key.startswith("remind:forum:ruiquan:") and "02-13" in key
    ]
    assert len(old) == 2
    assert {r.status for r in old} == {"dropped"}
    assert all("reason" in r.last_error for r in old)


def test_reminders_of_a_published_or_removed_venue_are_dropped(world: World) -> None:
    clock, state = world.clock, world.state
    clock.set(local("2022-02-11 12:00"))
    assert plan_on_start(world.services) == 4
    with transaction(world.services.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        venue.published_at = clock.now()
    world.resync(venues=campaign(world.db_url)["venues"][:1])  # yuhong is gone
    world.run_until(local("2022-02-13 08:00"), step=1800)
    assert state.messages() == []
    assert {r.status for r in rows(world.services).values()} == {"dropped"}


def test_resyncing_the_same_config_does_not_duplicate_reminders(world: World) -> None:
    clock, state = world.clock, world.state
    clock.set(local("2022-02-11 12:00"))
    assert plan_on_start(world.services) == 4
    assert plan_on_start(world.services) == 0
    assert plan_on_start(world.resync()) == 0
    assert count_rows(world.services) == 4
    world.run_until(local("2022-02-12 19:00"), step=1800)  # the eve reminders go
    assert len(state.messages()) == 2
    assert plan_on_start(world.resync()) == 0  # a restart after the eve
    world.run_until(local("2022-02-13 08:00"), step=1800)
    assert count_rows(world.services) == 4
    assert len(state.messages()) == 4
    assert Counter(r.target for r in state.messages()) == {"ruiquan-key": 2, "yuhong-token": 2}


def test_a_venue_changed_without_moving_names_the_new_judges(world: World) -> None:
    clock, state = world.clock, world.state
    clock.set(local("2022-02-11 12:00"))
    assert plan_on_start(world.services) == 4
    venues = campaign(world.db_url)["venues"]
    venues[0] = {**venues[0], "judges": ["申毅", "梁飞", "李学斌"], "location": "瑞泉中学报告厅"}
    assert plan_on_start(world.resync(venues=venues)) == 0  # same start: same reminders
    world.run_until(local("2022-02-12 19:00"), step=1800)
    (eve,) = state.messages(target="ruiquan-key")
    assert "评委：申毅、梁飞、李学斌" in eve.body["text"]["content"]
    assert "地点：瑞泉中学报告厅" in eve.body["text"]["content"]
    assert eve.body["text"]["mentioned_list"] == ["shenyi", "liangfei", "lixuebin"]
    assert count_rows(world.services) == 4


def test_a_reminder_missed_by_downtime_is_sent_within_the_grace_only(sqlite_world: World) -> None:
    world = sqlite_world
    clock, state = world.clock, world.state
    clock.set(local("2022-02-11 12:00"))
    plan_on_start(world.services)
    clock.set(local("2022-02-12 23:00"))  # down from before 18:00 until 23:00: 5 h late
    world.outbox.drain_all()
    assert len(state.messages()) == 2
    assert all("明天开始" in r.body["text"]["content"] for r in state.messages())


def test_a_reminder_missed_by_more_than_the_grace_is_dropped(sqlite_world: World) -> None:
    world = sqlite_world
    clock, state = world.clock, world.state
    clock.set(local("2022-02-11 12:00"))
    plan_on_start(world.services)
    clock.set(local("2022-02-13 01:00"))  # 7 h after the eve reminders fell due
    world.outbox.drain_all()
    assert state.messages() == []
    eve = [r for key, r in rows(world.services).items() if ":eve:" in key]
    assert {r.status for r in eve} == {"dropped"}
    clock.set(local("2022-02-13 07:00"))  # the 1 h reminders still go
    world.outbox.drain_all()
    assert len(state.messages()) == 2


def test_a_reminder_that_would_reach_the_group_after_the_start_is_dropped_with_a_log_line(
    sqlite_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Down from 06:00 to 09:00: the 1 h reminders fell due at 07:00, within the grace, but
    "1 小时后开始" sent at 09:00 about a venue that began at 08:00 would mislead."""
    world = sqlite_world
    clock, state = world.clock, world.state
    clock.set(local("2022-02-13 06:00"))
    plan_on_start(world.services)
    clock.set(local("2022-02-13 09:00"))
    with caplog.at_level(logging.INFO, logger="edubot.outbox"):
        world.outbox.drain_all()
    assert state.messages() == []
    hour = {key: r for key, r in rows(world.services).items() if key.startswith("remind:")}
    assert hour
    assert {r.status for r in hour.values()} == {"dropped"}
    assert all(
        any(key in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)
        for key in hour
    )


# ------------------------------------------------------------------------------ waking


def test_next_due_is_the_earliest_pending_push_still_ahead(
    sqlite_services: Services, clock: FakeClock
) -> None:
    services = sqlite_services
    outbox = outbox_for(services, RecordingSender(SendLog(), clock, "a"), "a")
    assert outbox.next_due() is None
    now = clock.now()
    push(services, [("past", "grp1")], due_at=now - timedelta(minutes=1))
    assert outbox.next_due() is None  # due already: the drain's business, not a wake-up
    push(services, [("later", "grp1")], due_at=now + timedelta(minutes=9))
    push(services, [("soon", "grp2")], due_at=now + timedelta(minutes=2))
    assert outbox.next_due() == now + timedelta(minutes=2)
    clock.advance(timedelta(minutes=3))
    outbox.drain_all()
    assert {k for k, r in rows(services).items() if r.status == "sent"} == {"past", "soon"}
    assert outbox.next_due() == now + timedelta(minutes=9)


def test_serve_sends_a_push_at_its_due_time_not_at_the_next_poll(
    sqlite_url: str, tmp_path: Path
) -> None:
    """With a 60-second poll, a push due a moment after a drain still goes out on time:
    the drain that finds nothing due schedules the next one for the push's due time."""
    settings = make_settings(sqlite_url, tmp_path, outbox={"poll_seconds": 60.0})
    clock = SystemClock()
    services = build_services(settings, clock=clock)
    log = SendLog()
    outbox = outbox_for(services, RecordingSender(log, clock, "s"), "s")
    scheduler = Scheduler(services.factory, settings, outbox, clock=clock)
    try:
        scheduler.start()  # drains at once: nothing is due yet
        due = clock.now() + timedelta(seconds=0.6)
        push(services, [("on-time", "grp1")], due_at=due)
        scheduler.wake()  # as a handler does after queueing
        deadline = time.monotonic() + 10
        while not [s for s in log.sent if s.dedupe_key == "on-time"]:
            assert time.monotonic() < deadline, "not sent: the drain waited for the poll"
            time.sleep(0.02)
        (sent,) = [s for s in log.sent if s.dedupe_key == "on-time"]
        assert sent.at >= due
    finally:
        scheduler.stop()
        services.engine.dispose()


class GatedSender(RecordingSender):
    """Records like ``RecordingSender``, but the first send waits until ``release``."""

    def __init__(self, log: SendLog, clock: Clock, name: str) -> None:
        super().__init__(log, clock, name)
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(10), "the test never released the sender"
        super().send(message, dedupe_key=dedupe_key)


@contextmanager
def gated_scheduler(
    sqlite_url: str, tmp_path: Path
) -> Iterator[tuple[Services, Scheduler, GatedSender, SendLog]]:
    """A real scheduler with a 60-second poll whose first send blocks until released."""
    settings = make_settings(sqlite_url, tmp_path, outbox={"poll_seconds": 60.0})
    clock = SystemClock()
    services = build_services(settings, clock=clock)
    log = SendLog()
    sender = GatedSender(log, clock, "g")
    scheduler = Scheduler(
        services.factory, settings, outbox_for(services, sender, "g"), clock=clock
    )
    try:
        yield services, scheduler, sender, log
    finally:
        sender.release.set()
        scheduler.stop()
        services.engine.dispose()


def test_stopping_while_a_drain_runs_does_not_hang(sqlite_url: str, tmp_path: Path) -> None:
    """The drain ends by moving its next run to the next due push; APScheduler's shutdown
    holds the lock that needs while it waits for the drain."""
    with gated_scheduler(sqlite_url, tmp_path) as (services, scheduler, sender, log):
        now = services.clock.now()
        push(services, [("now", "grp1")], due_at=now)
        push(services, [("later", "grp2")], due_at=now + timedelta(hours=1))
        scheduler.start()
        assert sender.entered.wait(10)
        stopper = threading.Thread(target=scheduler.stop, daemon=True)
        stopper.start()
        time.sleep(0.2)  # shutdown is now waiting for the drain
        sender.release.set()
        stopper.join(10)
        assert not stopper.is_alive(), "stop() hung behind the drain"
        assert [s.dedupe_key for s in log.sent] == ["now"]


def test_a_push_queued_as_a_drain_ends_goes_out_at_once(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler queues a push (and wakes the scheduler) after the drain's last pass found
    nothing: APScheduler skips that wake, as the drain is still running, so the drain must
    go again rather than leave the push to the next poll (60 s here)."""
    with gated_scheduler(sqlite_url, tmp_path) as (services, scheduler, sender, log):
        sender.release.set()
        real = OutboxSender.next_due
        queued = threading.Event()

        def next_due_with_a_push_meanwhile(outbox: OutboxSender) -> datetime | None:
            if log.sent and not queued.is_set():  # the first drain is ending
                queued.set()
                push(services, [("queued", "grp2")], due_at=services.clock.now())
                scheduler.wake()
            return real(outbox)

        monkeypatch.setattr(OutboxSender, "next_due", next_due_with_a_push_meanwhile)
        push(services, [("first", "grp1")], due_at=services.clock.now())
        scheduler.start()
        deadline = time.monotonic() + 10
        while "queued" not in {s.dedupe_key for s in log.sent}:
            assert time.monotonic() < deadline, "the queued push waited for the poll"
            time.sleep(0.02)
