"""``edubot serve --workers N``: several intake processes on one SQLite file behind one port
never lose or double-record a message, also when one worker is killed with ``kill -9``
under load; and the planners run in one process only (the planner role)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import bot.scheduler
import bot.workers
from bot.cli import main
from bot.clock import FakeClock
from bot.config import Settings
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.state import EmulatorState
from bot.outbox import OutboxSender
from bot.planning.role import PLANNER_LEASE, PlannerRole
from bot.scheduler import Scheduler
from bot.workers import DEFAULT_MAX
from storage.db import make_engine, make_session_factory, transaction
from storage.models import ConnectionLease
from tests.conftest import make_settings
from tests.support.campaign import DING_SECRET, campaign
from tests.support.toml import toml_text
from tests.support.waiting import wait_until
from tests.test_faults import (
    CONTESTANTS,
    JUDGES,
    REPO,
    _assert_one_score_revision_per_message,
    _big_venue_config,
    _free_port,
    _inbound_by_msg_id,
    _post,
    _Request,
    _scoring,
)
from tests.test_wecom_failover import BOT, SECRET, write_robot_config

TTL = timedelta(minutes=3)


# ============================================================== the planner role


def test_one_process_holds_the_planner_role_until_it_stops_renewing_or_releases(
    factory: sessionmaker[Session], clock: FakeClock
) -> None:
    first = PlannerRole(factory, "host:1", clock=clock, ttl=TTL)
    second = PlannerRole(factory, "host:2", clock=clock, ttl=TTL)
    assert first.held()
    assert not second.held()
    clock.advance(timedelta(minutes=1))
    assert first.held()  # renewed at its tick
    clock.advance(timedelta(minutes=2, seconds=59))
    assert not second.held()  # not yet expired
    clock.advance(timedelta(seconds=2))  # first stopped ticking (killed): it ran out
    assert second.held()
    assert not first.held()
    second.release()
    assert first.held()  # at once after a clean stop


def test_a_holder_gone_from_this_machine_is_taken_over_at_once(
    factory: sessionmaker[Session], clock: FakeClock
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid names no process now
    here, elsewhere = socket.gethostname(), "another-host"
    assert PlannerRole(factory, f"{elsewhere}:{ended.pid}", clock=clock, ttl=TTL).held()
    # Another machine's holder may be alive: it keeps the role until its lease runs out.
    assert not PlannerRole(factory, f"{here}:{os.getpid()}", clock=clock, ttl=TTL).held()
    with transaction(factory) as session:
        session.execute(
            update(ConnectionLease)
            .where(ConnectionLease.name == PLANNER_LEASE)
            .values(holder=f"{here}:{ended.pid}")
        )
    # A holder of this machine whose process is gone: taken over at once.
    assert PlannerRole(factory, f"{here}:{os.getpid()}", clock=clock, ttl=TTL).held()


@pytest.fixture
def processes(
    factory: sessionmaker[Session], db_url: str, tmp_path: Path, clock: FakeClock
) -> Callable[[int], list[Scheduler]]:
    """The schedulers of n processes on one database, each with its planner role."""
    settings = make_settings(db_url, tmp_path)

    def make(n: int) -> list[Scheduler]:
        roles = [PlannerRole(factory, f"host:{i}", clock=clock) for i in range(1, n + 1)]
        return [_scheduler(factory, settings, clock, role) for role in roles]

    return make


def test_only_the_role_holder_runs_the_planners_and_digests(
    processes: Callable[[int], list[Scheduler]],
    factory: sessionmaker[Session],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planned: list[str] = []
    digested: list[str] = []
    monkeypatch.setattr(bot.scheduler, "run_planners", lambda *_a: planned.append("run"))
    monkeypatch.setattr(bot.scheduler, "enqueue_digest_now", lambda *_a: digested.append("run"))
    schedulers = processes(3)
    for minute in range(3):
        for scheduler in schedulers:
            scheduler._plan()  # each process's minute tick
            scheduler._digest("daily")
        assert len(planned) == minute + 1
        assert len(digested) == minute + 1
        clock.advance(timedelta(minutes=1))
    with transaction(factory) as session:
        holder = session.scalar(
            select(ConnectionLease.holder).where(ConnectionLease.name == PLANNER_LEASE)
        )
    assert holder == "host:1"


def test_the_process_taking_the_role_over_catches_up_on_digests(
    processes: Callable[[int], list[Scheduler]], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    caught_up: list[str] = []
    monkeypatch.setattr(bot.scheduler, "run_planners", lambda *_a: None)
    monkeypatch.setattr(bot.scheduler, "catch_up_digests", lambda *_a: caught_up.append("x"))
    first, second = processes(2)
    first._plan()
    second._plan()
    assert caught_up == ["x"]  # the first holder, on taking the role
    clock.advance(TTL + timedelta(seconds=1))  # the holder died before a digest fired
    second._plan()
    assert caught_up == ["x", "x"]  # the new holder catches up
    second._plan()
    assert caught_up == ["x", "x"]  # once


def _scheduler(
    factory: sessionmaker[Session], settings: Settings, clock: FakeClock, role: PlannerRole
) -> Scheduler:
    outbox = OutboxSender(factory, None, clock=clock, settings=settings.outbox, instance="x")  # type: ignore[arg-type]  # never drained here
    return Scheduler(factory, settings, outbox, clock=clock, role=role)


# ============================================================== serve --workers 2


def _children(pid: int) -> set[int]:
    """The worker processes of uvicorn's supervisor ``pid`` (excluding the resource
    tracker multiprocessing may start)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(p) for p in text)
    return {p for p in found if b"multiprocessing.resource_tracker" not in _cmdline(p)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _start_workers(
    config: Path, log: Path, workers: int, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "bot", "serve", "--config", str(config)]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    base_url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
        if (
            len(_children(process.pid)) < workers
            or log.read_text().count("Application startup complete") < workers
        ):
            return False
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout=90)
    return process, base_url


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _deliver(http: httpx.Client, base_url: str, request: _Request) -> tuple[int, str]:
    """The platform: again after a cut connection or a 503, a few times."""
    for _ in range(6):
        status, answer = _post(http, base_url, request)
        if status not in (0, 503):
            break
    return status, answer


@pytest.mark.fault
def test_workers_on_one_sqlite_file_lose_nothing_and_record_nothing_twice_across_kill_9(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "edubot.db"
    config = tmp_path / "edubot.toml"
    config.write_text(toml_text(_big_venue_config(db_path, tmp_path / "data")), encoding="utf-8")
    log = tmp_path / "serve.log"
    now = datetime.now(UTC)  # the workers run on the real clock
    requests = [
        _scoring(j, c, now) for c in range(1, CONTESTANTS + 1) for j in range(1, JUDGES + 1)
    ]
    first: dict[str, tuple[int, str]] = {}
    lock = threading.Lock()
    enough = threading.Event()

    process, base_url = _start_workers(config, log, workers=2)
    try:
        workers = _children(process.pid)
        with (
            httpx.Client(timeout=10.0, limits=httpx.Limits(max_connections=16)) as http,
            ThreadPoolExecutor(max_workers=16) as pool,
        ):

            def send(request: _Request) -> None:
                result = _post(http, base_url, request)
                with lock:
                    first[request.msg_id] = result
                    if sum(1 for s, _ in first.values() if s == 200) >= len(requests) // 3:
                        enough.set()

            futures = [pool.submit(send, r) for r in requests]
            assert enough.wait(timeout=60), log.read_text()
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)  # one worker dies mid-load
            for future in futures:
                future.result(timeout=60)
            statuses = {s for s, _ in first.values()}
            assert statuses <= {0, 200, 503}, statuses  # never a 500, even while dying
            answered = {m for m, (s, _) in first.items() if s == 200}
            engine = make_engine(f"sqlite:///{db_path}")
            try:
                rows = _inbound_by_msg_id(engine)
                for msg_id in answered:  # every 200 is stored, once
                    assert rows.get(msg_id) == 1, msg_id
                # The supervisor replaces the dead worker; the platform retries the rest.
                wait_until(lambda: victim not in _children(process.pid), timeout=30)
                retried = list(pool.map(lambda r: (r, _deliver(http, base_url, r)), requests))
                for request, (status, answer) in retried:
                    assert status == 200, (request.msg_id, status)
                    assert answer.startswith(f"已记录 {request.judge} → {request.contestant}："), (
                        answer
                    )
                rows = _inbound_by_msg_id(engine)
                assert set(rows) == {r.msg_id for r in requests}
                assert set(rows.values()) == {1}  # none recorded twice
                assert _assert_one_score_revision_per_message(engine) == len(requests)
            finally:
                engine.dispose()
        wait_until(lambda: len(_children(process.pid)) == 2, timeout=60)
        # The replacement is up (it asked for the planner role on its way).
        wait_until(lambda: log.read_text().count("Application startup complete") >= 3, timeout=90)
        _assert_one_planner(db_path, log, workers=_children(process.pid), victim=victim)
    finally:
        _stop(process)


def _assert_one_planner(db_path: Path, log: Path, *, workers: set[int], victim: int) -> None:
    """One live worker holds the planner role; it changed hands only if its holder died."""
    engine = make_engine(f"sqlite:///{db_path}")
    try:
        with transaction(make_session_factory(engine)) as session:
            holder = session.scalar(
                select(ConnectionLease.holder).where(ConnectionLease.name == PLANNER_LEASE)
            )
    finally:
        engine.dispose()
    assert holder is not None
    assert int(holder.rpartition(":")[2]) in workers  # a live worker plans
    taken = re.findall(r"planner role taken by (\S+)", log.read_text())
    assert taken[-1] == holder
    # Taken once; twice only when the killed worker held it (taken over at once).
    pids = [int(t.rpartition(":")[2]) for t in taken]
    assert len(pids) == 1 or (len(pids) == 2 and pids[0] == victim), pids


@pytest.mark.fault
def test_each_long_connection_has_one_holder_among_the_workers(
    tmp_path: Path, clock: FakeClock
) -> None:
    state = EmulatorState(clock)
    state.wecom_longconn.add_robot(BOT, SECRET)
    with EmulatorServer(state) as emulator:
        data = campaign(f"sqlite:///{tmp_path / 'edubot.db'}")
        data["dingtalk"] |= {"api_base": emulator.base_url, "mode": "stream"}
        state.dingtalk_app(data["dingtalk"]["app_key"], DING_SECRET, "dingrobot")
        config = write_robot_config(data, tmp_path, emulator.base_url)
        process, base_url = _start_workers(config, tmp_path / "serve.log", workers=2)
        try:
            seen: set[tuple[str, str]] = set()

            def both_seen() -> bool:
                # Each new connection lands on either worker: ask until both have answered.
                try:
                    health = httpx.get(f"{base_url}/healthz", timeout=2.0).json()
                except httpx.TransportError:
                    return False
                seen.update((c["name"], c["state"]) for c in health["connections"])
                wanted = {"dingtalk-stream", "wecom-robot"}
                return all({(n, "connected"), (n, "standby")} <= seen for n in wanted)

            wait_until(both_seen, timeout=60)
            assert state.dingtalk_stream.peers() == 1
            assert state.wecom_longconn.subscribed == 1
        finally:
            _stop(process)


_RUN_WITH_CONFIG = """
import sys
from bot.config import load_settings
from bot.workers import run
from handlers.errors import EdubotError

settings = load_settings(sys.argv[1])
try:
    run(settings, config=sys.argv[2], host="127.0.0.1", port=int(sys.argv[3]), workers=2)
except EdubotError as exc:
    print("refused:", exc)
    sys.exit(1)
"""


@pytest.mark.fault
def test_workers_that_cannot_start_stop_serve_with_an_error_instead_of_restarting(
    tmp_path: Path,
) -> None:
    # The supervisor read a good file; by the time the workers read theirs it is broken
    # (an edit saved mid-start). Each worker says why in one line; serve stops, exit 1.
    good = tmp_path / "good.toml"
    good.write_text(toml_text(campaign(f"sqlite:///{tmp_path / 'edubot.db'}")), encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text('timezone = "Asia/Shanghai"\n[server\n', encoding="utf-8")
    command = [sys.executable, "-c", _RUN_WITH_CONFIG, str(good), str(broken), str(_free_port())]
    done = subprocess.run(
        command, check=False, cwd=REPO, capture_output=True, text=True, timeout=90
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "failed to start, so serve stopped" in output
    assert re.search(r"worker \d+ could not start: ", output), output
    assert "died" not in output  # the supervisor never restarted one


@pytest.mark.fault
def test_a_replacement_worker_that_cannot_start_leaves_the_others_serving(
    tmp_path: Path,
) -> None:
    # serve is up; the config file is then saved broken and a worker dies. Its replacement
    # cannot load the file: it says so and tries again, the other worker goes on answering,
    # and once the file is mended the replacement starts.
    config = tmp_path / "edubot.toml"
    good = toml_text(campaign(f"sqlite:///{tmp_path / 'edubot.db'}"))
    config.write_text(good, encoding="utf-8")
    log = tmp_path / "serve.log"
    process, base_url = _start_workers(
        config, log, workers=2, env={"EDUBOT_SERVE_FIRST_START_S": "1"}
    )
    try:
        time.sleep(1.5)  # past the first start
        config.write_text('timezone = "Asia/Shanghai"\n[server\n', encoding="utf-8")
        victim = sorted(_children(process.pid))[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: "tries again" in log.read_text(), timeout=60)
        assert process.poll() is None, log.read_text()

        def serving_and_warning() -> bool:
            # The surviving worker answers, on the config it had, and says the file is bad.
            health = httpx.get(f"{base_url}/healthz", timeout=5.0)
            return health.status_code == 200 and bool(health.json()["warnings"])

        wait_until(serving_and_warning, timeout=60)
        started = log.read_text().count("Application startup complete")
        config.write_text(good, encoding="utf-8")
        wait_until(
            lambda: log.read_text().count("Application startup complete") > started, timeout=60
        )
        assert process.poll() is None
        assert len(_children(process.pid)) == 2
    finally:
        _stop(process)


# ============================================================== how many workers by default


@pytest.fixture
def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many workers each ``serve`` in the test would have started; no cgroup limit
    unless the test writes one."""
    counts: list[int] = []
    monkeypatch.setattr(bot.workers, "run", lambda *_a, workers, **_k: counts.append(workers))
    monkeypatch.setattr(bot.workers, "CPU_MAX", tmp_path / "cpu.max")
    return counts


def _cores(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)


def _serve(tmp_path: Path, url: str, *extra: str, workers: int | None = None) -> None:
    data = campaign(url)
    if workers is not None:
        data.setdefault("server", {})["workers"] = workers
    config = tmp_path / "edubot.toml"
    config.write_text(toml_text(data), "utf-8")
    assert main(["serve", "--config", str(config), "--no-scheduler", *extra]) == 0


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (6, 6), (64, DEFAULT_MAX)])
def test_serve_starts_one_worker_per_core_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[int], cores: int, expected: int
) -> None:
    _cores(monkeypatch, cores)
    _serve(tmp_path, f"sqlite:///{tmp_path / 'edubot.db'}")
    assert started == [expected]


@pytest.mark.parametrize(
    ("cpu_max", "expected"), [("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", 6)]
)
def test_a_cgroup_cpu_limit_counts_as_fewer_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[int], cpu_max: str, expected: int
) -> None:
    # ``docker run --cpus 1.5`` on a 6-core host: the CPU set is all six, the time is not.
    _cores(monkeypatch, 6)
    (tmp_path / "cpu.max").write_text(cpu_max, "ascii")
    _serve(tmp_path, f"sqlite:///{tmp_path / 'edubot.db'}")
    assert started == [expected]


def test_without_cpu_sets_the_cores_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[int]
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    _serve(tmp_path, f"sqlite:///{tmp_path / 'edubot.db'}")
    assert started == [3]


def test_an_in_memory_database_is_served_by_one_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[int]
) -> None:
    # Each worker would have a database of its own: a retried delivery could land on another.
    _cores(monkeypatch, 4)
    _serve(tmp_path, "sqlite://")
    assert started == [1]


def test_the_command_line_and_the_file_say_how_many_workers_before_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[int]
) -> None:
    _cores(monkeypatch, 4)
    url = f"sqlite:///{tmp_path / 'edubot.db'}"
    _serve(tmp_path, url, workers=3)
    _serve(tmp_path, url, "--workers", "1", workers=3)
    assert started == [3, 1]
