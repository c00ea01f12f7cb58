"""Fault injection (issue 6): a killed process, repeated deliveries, an unreachable database,
strangers and wrong roles, a handler that crashes halfway. Every test is bounded in time,
uses loopback only and leaves nothing half-written behind."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

import handlers.scoring
from bot.answers import MAX_REPLY_BYTES, TRUNCATED
from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.dispatcher import POLITE_FAILURE
from handlers.commands import Help
from handlers.messages import Reply
from handlers.registry import HANDLERS
from storage.db import make_engine, transaction
from storage.models import InboundMessageRow, OutboxRow, ScoreRevision, ScoreSheet
from tests.support.campaign import campaign
from tests.support.toml import toml_text
from tests.support.wire import (
    dingtalk_request,
    open_app_reply,
    open_robot_reply,
    wecom_app_request,
    wecom_robot_request,
)

pytestmark = pytest.mark.fault

REPO = Path(__file__).resolve().parent.parent


def _count(services: Services, model: type) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _client(services: Services) -> TestClient:
    return TestClient(create_app(services), raise_server_exceptions=False)


# ================================================================== kill -9 under load

JUDGES = 6
CONTESTANTS = 50  # 6 × 50 = 300 distinct sheets, one per message


def _big_venue_config(db_path: Path, data_dir: Path) -> dict[str, Any]:
    """The seed campaign plus a venue of 50 contestants and 6 judges of its own."""
    data = campaign(f"sqlite:///{db_path}")
    data["server"] = {"data_dir": str(data_dir)}
    judges = [f"评委{j:02d}" for j in range(1, JUDGES + 1)]
    data["people"] = [
        *data["people"],
        *(
            {"name": name, "roles": ["judge"], "wecom_userid": f"judge{j:02d}"}
            for j, name in enumerate(judges, 1)
        ),
    ]
    data["venues"] = [
        *data["venues"],
        {
            "key": "big",
            "title": "学校管理论坛",
            "starts_at": "2022-02-14 08:00",
            "location": "实验中学",
            "rubric": "fujian3",
            "host": "李学斌",
            "judges": judges,
            "contestants": [f"选手{c:03d}" for c in range(1, CONTESTANTS + 1)],
            "results_to": ["leaders"],
        },
    ]
    return data


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _Serve:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


def _start_serve(config: Path, tmp_path: Path, name: str) -> _Serve:
    port = _free_port()
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        command = [sys.executable, "-m", "bot", "serve", "--config", str(config)]
        process = subprocess.Popen(
            [*command, "--port", str(port), "--no-scheduler", "--workers", "1"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    serve = _Serve(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 20
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if http.get(f"{serve.base_url}/healthz").status_code == 200:
                    return serve
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    _kill(serve)
    pytest.fail(f"serve did not answer /healthz within 20 s:\n{log.read_text()}")


def _kill(serve: _Serve) -> None:
    if serve.process.poll() is None:
        os.kill(serve.process.pid, signal.SIGKILL)
    serve.process.wait(timeout=10)


@dataclass(frozen=True)
class _Request:
    msg_id: str
    judge: str
    contestant: str
    query: dict[str, str]
    body: bytes


def _scoring(judge: int, contestant: int, now: datetime) -> _Request:
    msg_id = str(7_300_000_000_000_000_000 + judge * 1000 + contestant)
    text = f"评分 {contestant}号 {60 + contestant % 40}"
    query, body = wecom_app_request(f"judge{judge:02d}", text, msg_id, now)
    return _Request(msg_id, f"评委{judge:02d}", f"选手{contestant:03d}", query, body)


def _post(http: httpx.Client, base_url: str, request: _Request) -> tuple[int, str]:
    """(status, decrypted answer); status 0 when the connection failed."""
    try:
        response = http.post(
            f"{base_url}/wecom/callback", params=request.query, content=request.body
        )
    except httpx.TransportError:
        return 0, ""
    if response.status_code != 200:
        return response.status_code, ""
    return 200, open_app_reply(response.content)


def test_kill_9_under_load_loses_no_answered_message_and_records_none_twice(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    db_path = tmp_path / "edubot.db"
    config = tmp_path / "edubot.toml"
    config.write_text(toml_text(_big_venue_config(db_path, tmp_path / "data")), encoding="utf-8")

    now = datetime.now(UTC)  # the server runs on the real clock
    requests = [
        _scoring(j, c, now) for c in range(1, CONTESTANTS + 1) for j in range(1, JUDGES + 1)
    ]
    answered: dict[str, str] = {}
    statuses: set[int] = set()  # 0: the connection failed or was cut
    lock = threading.Lock()
    enough = threading.Event()

    serve = _start_serve(config, tmp_path, "first")
    try:
        with (
            httpx.Client(timeout=5.0, limits=httpx.Limits(max_connections=16)) as http,
            ThreadPoolExecutor(max_workers=16) as pool,
        ):

            def send(request: _Request) -> None:
                status, answer = _post(http, serve.base_url, request)
                statuses.add(status)
                if status == 200:
                    with lock:
                        answered[request.msg_id] = answer
                        if len(answered) >= len(requests) // 3:
                            enough.set()

            futures = [pool.submit(send, r) for r in requests]
            # Kill once a third has been answered: many requests are in flight by then.
            assert enough.wait(timeout=20), f"too slow:\n{serve.log.read_text()}"
            os.kill(serve.process.pid, signal.SIGKILL)
            for future in futures:
                future.result(timeout=20)
        serve.process.wait(timeout=10)
        assert serve.process.returncode == -signal.SIGKILL
        assert statuses <= {0, 200, 503}, statuses  # never a 500, even while dying
        unanswered = [r for r in requests if r.msg_id not in answered]
        assert unanswered, "the kill came after the last request; nothing was in flight"
        for request in requests:
            if request.msg_id in answered:
                assert answered[request.msg_id].startswith(
                    f"已记录 {request.judge} → {request.contestant}："
                ), answered[request.msg_id]

        serve = _start_serve(config, tmp_path, "second")
        engine = make_engine(f"sqlite:///{db_path}")
        try:
            rows = _inbound_by_msg_id(engine)
            # Every 200 is durable: its log row and its sheet survived the kill.
            for msg_id in answered:
                assert rows.get(msg_id) == 1, msg_id
            _assert_one_score_revision_per_message(engine)

            # The platform retries everything that got no 200; each is recorded once. A
            # message committed just before the kill gets its stored answer back. (Few
            # senders: SQLite's busy handler is not fair, and a writer starved past the busy
            # timeout is answered 503, which the platform would retry again.)
            with (
                httpx.Client(timeout=10.0, limits=httpx.Limits(max_connections=4)) as http,
                ThreadPoolExecutor(max_workers=4) as pool,
            ):
                retried = list(pool.map(lambda r: _retry(http, serve.base_url, r), unanswered))
            failed = [
                r.msg_id
                for r, (status, _) in zip(unanswered, retried, strict=True)
                if status != 200
            ]
            assert not failed, (failed, _errors(serve.log))
            for request, (_, answer) in zip(unanswered, retried, strict=True):
                assert answer.startswith(f"已记录 {request.judge} → {request.contestant}："), answer
            rows = _inbound_by_msg_id(engine)
            assert set(rows) == {r.msg_id for r in requests}
            assert set(rows.values()) == {1}
            sheets = _assert_one_score_revision_per_message(engine)
            assert sheets == len(requests)
        finally:
            engine.dispose()
    finally:
        _kill(serve)
    assert time.monotonic() - started < 60


def _retry(http: httpx.Client, base_url: str, request: _Request) -> tuple[int, str]:
    """The platform's retry: again after a 503, up to three times."""
    for _ in range(3):
        status, answer = _post(http, base_url, request)
        if status != 503:
            break
    return status, answer


def _errors(log: Path) -> str:
    """The server log without the access lines, for a failure message."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(line for line in lines if '" 200' not in line and "alembic" not in line)


def _inbound_by_msg_id(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        result = conn.execute(
            select(InboundMessageRow.message_id, func.count())
            .where(InboundMessageRow.platform == "wecom")
            .group_by(InboundMessageRow.message_id)
        )
        return {str(msg_id): int(n) for msg_id, n in result}


def _assert_one_score_revision_per_message(engine: Engine) -> int:
    """Each committed scoring message has exactly one sheet with one "score" revision."""
    with engine.connect() as conn:
        sheets = int(conn.scalar(select(func.count()).select_from(ScoreSheet)) or 0)
        revisions = conn.execute(
            select(ScoreRevision.sheet_id, ScoreRevision.inbound_id, ScoreRevision.action)
        ).all()
        ok_messages = int(
            conn.scalar(
                select(func.count())
                .select_from(InboundMessageRow)
                .where(InboundMessageRow.status == "ok")
            )
            or 0
        )
    assert [action for _, _, action in revisions] == ["score"] * len(revisions)
    assert len({sheet for sheet, _, _ in revisions}) == len(revisions) == sheets
    assert len({inbound for _, inbound, _ in revisions}) == sheets == ok_messages
    return sheets


# ================================================================== repeated deliveries

WECOM = {"申毅": "shenyi", "梁飞": "liangfei", "张伟利": "zhangweili"}
DING = {"党攀峰": "ding-dangpanfeng", "樊文英": "ding-fanwenying", "韩晓斌": "ding-hanxiaobin"}
RUIQUAN_APP = ["瑞泉中学共同体", "杜桥中学"]
RUIQUAN_ROBOT = ["尚德中学", "韩马初中共同体"]
YUHONG = ["实验初中共同体", "前进路初中共同体", "陇海初中共同体", "南京路初中共同体"]


def test_every_wecom_message_thrice_and_dingtalk_message_twice_is_recorded_once(
    services: Services, clock: FakeClock
) -> None:
    ids = count(1)
    # (expected answer, msg id, deliveries, send): send returns what the platform sees.
    deliveries: list[tuple[str, str, int, Callable[[], str]]] = []

    with _client(services) as client:

        def app(user: str, text: str) -> tuple[str, Callable[[], str]]:
            msg_id = str(6_000_000_000 + next(ids))
            query, body = wecom_app_request(user, text, msg_id, clock.now())

            def send() -> str:
                response = client.post("/wecom/callback", params=query, content=body)
                assert response.status_code == 200
                return open_app_reply(response.content)

            return msg_id, send

        def robot(user: str, text: str) -> tuple[str, Callable[[], str]]:
            msg_id = f"robot-{next(ids)}"
            query, body = wecom_robot_request(user, text, msg_id, clock.now())

            def send() -> str:
                response = client.post("/wecom/robot", params=query, content=body)
                assert response.status_code == 200
                return open_robot_reply(response.content)

            return msg_id, send

        def ding(staff: str, text: str) -> tuple[str, Callable[[], str]]:
            msg_id = f"msgding{next(ids)}"
            headers, body = dingtalk_request(staff, text, msg_id, clock.now())

            def send() -> str:
                response = client.post("/dingtalk/callback", headers=headers, content=body)
                assert response.status_code == 200
                assert response.json() == {}
                return _session_reply(services, msg_id)

            return msg_id, send

        for n, (name, user) in enumerate(WECOM.items()):
            for k, who in enumerate(RUIQUAN_APP):
                msg_id, send = app(user, f"评分 {who} {80 + n + k}")
                deliveries.append((f"已记录 {name} → {who}：{80 + n + k} 分", msg_id, 3, send))
            for k, who in enumerate(RUIQUAN_ROBOT):
                msg_id, send = robot(user, f"评分 {who} 18 22 17 20 {n + k}")
                deliveries.append((f"已记录 {name} → {who}：{77 + n + k} 分", msg_id, 3, send))
        for n, (name, staff) in enumerate(DING.items()):
            for k, who in enumerate(YUHONG):
                msg_id, send = ding(staff, f"评分 {who} {70 + n + k}")
                deliveries.append((f"已记录 {name} → {who}：{70 + n + k} 分", msg_id, 2, send))

        # Retries arrive interleaved with other traffic, as the platforms send them.
        answers: dict[str, list[str]] = {msg_id: [] for _, msg_id, _, _ in deliveries}
        for round_no in range(3):
            for _, msg_id, times, send in deliveries:
                if round_no < times:
                    answers[msg_id].append(send())
                    clock.advance(1)

    for expected, msg_id, times, _ in deliveries:
        first = answers[msg_id][0]
        assert first.startswith(expected), (msg_id, first)
        assert answers[msg_id] == [first] * times
    with transaction(services.factory) as session:
        rows = session.scalars(select(InboundMessageRow)).all()
        assert sorted(r.message_id for r in rows) == sorted(m for _, m, _, _ in deliveries)
        assert {r.status for r in rows} == {"ok"}
        assert {r.message_id: r.reply_text for r in rows} == {m: a[0] for m, a in answers.items()}
        session_replies = session.scalars(
            select(OutboxRow).where(OutboxRow.target_kind == "session")
        ).all()
        assert len(session_replies) == len(DING) * len(YUHONG)
    assert _count(services, ScoreSheet) == len(deliveries)
    assert _count(services, ScoreRevision) == len(deliveries)


def _session_reply(services: Services, msg_id: str) -> str:
    with transaction(services.factory) as session:
        row = session.scalars(
            select(OutboxRow).where(OutboxRow.dedupe_key == f"reply:dingtalk:{msg_id}")
        ).one()
        return str(row.payload["text"])


def test_concurrent_deliveries_of_one_message_record_it_once(
    services: Services, clock: FakeClock
) -> None:
    """Retries racing each other in worker threads: one wins the log row, the rest replay it."""
    barrier = threading.Barrier(4)
    with _client(services) as client:

        def deliver(index: int) -> list[str]:
            query, body = wecom_app_request(
                "shenyi",
                f"评分 {RUIQUAN_APP[index % 2]} 18 22 17 20 {index}",
                f"race-{index}",
                clock.now(),
            )
            barrier.wait(timeout=10)
            answers = []
            for _ in range(3):
                response = client.post("/wecom/callback", params=query, content=body)
                assert response.status_code == 200
                answers.append(open_app_reply(response.content))
            return answers

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(deliver, [0, 0, 1, 1]))
    # Threads 0/1 and 2/3 deliver the same two messages.
    assert len({a for answers in results[:2] for a in answers}) == 1
    assert len({a for answers in results[2:] for a in answers}) == 1
    assert results[0][0].startswith("已记录 申毅 → 瑞泉中学共同体：")
    assert results[2][0].startswith("已记录 申毅 → 杜桥中学：")
    assert _count(services, InboundMessageRow) == 2
    assert _count(services, ScoreSheet) == 2
    assert _count(services, ScoreRevision) == 2


# ================================================================== unreachable database


def _unreachable(kind: str, tmp_path: Path) -> Engine:
    """An engine that cannot connect: a vanished SQLite directory or a closed port."""
    if kind == "sqlite-gone":
        folder = tmp_path / "vanishing"
        engine = make_engine(f"sqlite:///{folder / 'edubot.db'}", busy_timeout_ms=100)
        shutil.rmtree(folder)  # make_engine created it; now the path cannot be opened
        return engine
    port = _free_port()  # bound and released: nothing listens there
    scheme = "postgresql" if kind == "postgresql-closed" else "mysql"
    return make_engine(
        f"{scheme}://edubot@127.0.0.1:{port}/edubot",
        connect_args={"connect_timeout": 2},
    )


@pytest.mark.parametrize("kind", ["sqlite-gone", "postgresql-closed", "mysql-closed"])
def test_an_unreachable_database_answers_503_then_the_retry_is_recorded_once(
    sqlite_services: Services, clock: FakeClock, tmp_path: Path, kind: str
) -> None:
    services = sqlite_services
    healthy = services.engine
    score = "评分 瑞泉中学 18 22 17 20 9"
    app_query, app_body = wecom_app_request("shenyi", score, "8100000001", clock.now())
    robot_query, robot_body = wecom_robot_request("liangfei", score, "gone-robot", clock.now())
    ding_headers, ding_body = dingtalk_request(
        "ding-hanxiaobin", "评分 实验 80", "gone-d", clock.now()
    )

    with _client(services) as client:
        broken = _unreachable(kind, tmp_path)
        services.engine = broken
        services.factory.configure(bind=broken)
        try:
            answers = [
                client.post("/wecom/callback", params=app_query, content=app_body),
                client.post("/wecom/robot", params=robot_query, content=robot_body),
                client.post("/dingtalk/callback", headers=ding_headers, content=ding_body),
            ]
            for response in answers:
                assert response.status_code == 503
                assert "Traceback" not in response.text
                assert response.text == "storage unavailable, retry"
            health = client.get("/healthz")
            assert health.status_code == 503
            assert health.json()["database"] is False
            assert health.json()["status"] == "degraded"
        finally:
            broken.dispose()
            services.engine = healthy
            services.factory.configure(bind=healthy)

        # Nothing half-written on the real database.
        for model in (InboundMessageRow, ScoreSheet, ScoreRevision, OutboxRow):
            assert _count(services, model) == 0
        # The platform's retries, once the database is back: recorded once each.
        for _ in range(2):
            app = client.post("/wecom/callback", params=app_query, content=app_body)
            robot = client.post("/wecom/robot", params=robot_query, content=robot_body)
            ding = client.post("/dingtalk/callback", headers=ding_headers, content=ding_body)
            assert (app.status_code, robot.status_code, ding.status_code) == (200, 200, 200)
            assert open_app_reply(app.content).startswith("已记录 申毅 → 瑞泉中学共同体：86 分")
            assert open_robot_reply(robot.content).startswith("已记录 梁飞 → 瑞泉中学共同体：86 分")
        assert client.get("/healthz").status_code == 200
    assert _count(services, InboundMessageRow) == 3
    assert _count(services, ScoreSheet) == 3
    assert _count(services, ScoreRevision) == 3
    assert _count(services, OutboxRow) == 1  # the DingTalk session reply


def test_a_database_error_midway_rolls_back_and_answers_503(
    sqlite_services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after the sheet was written: nothing of it stays, the retry works."""
    services = sqlite_services
    real = handlers.scoring.record_sheet

    def write_then_lose_the_connection(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr(handlers.scoring, "record_sheet", write_then_lose_the_connection)
    query, body = wecom_app_request(
        "shenyi", "评分 瑞泉中学 18 22 17 20 9", "8200000001", clock.now()
    )
    with _client(services) as client:
        response = client.post("/wecom/callback", params=query, content=body)
        assert response.status_code == 503
        assert "Traceback" not in response.text
        for model in (InboundMessageRow, ScoreSheet, ScoreRevision, OutboxRow):
            assert _count(services, model) == 0
        monkeypatch.setattr(handlers.scoring, "record_sheet", real)
        response = client.post("/wecom/callback", params=query, content=body)
    assert response.status_code == 200
    assert open_app_reply(response.content).startswith("已记录 申毅 → 瑞泉中学共同体：86 分")
    assert _count(services, InboundMessageRow) == 1
    assert _count(services, ScoreSheet) == 1
    assert _count(services, ScoreRevision) == 1


# ================================================================== refusals


@pytest.fixture
def refusal_services(tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    """The seed campaign where 育红's judge 党攀峰 also has a WeCom account."""
    data = campaign(f"sqlite:///{tmp_path / 'edubot.db'}")
    data["server"] = {"data_dir": str(tmp_path / "data")}
    data["people"] = [
        {**p, "wecom_userid": "dangpanfeng"} if p["name"] == "党攀峰" else p for p in data["people"]
    ]
    svc = build_services(settings_from_mapping(data), clock=clock)
    yield svc
    svc.engine.dispose()


STRANGER_WECOM = (
    "您好，您的企业微信账号（nobody）不在本次活动名单中，暂时无法使用。请联系教育股把您加入名单。"
)
STRANGER_DING = (
    "您好，您的钉钉账号（ding-nobody）不在本次活动名单中，暂时无法使用。请联系教育股把您加入名单。"
)
OTHER_VENUE = (
    "您不是瑞泉中学会场的评委（本会场评委：申毅、梁飞、张伟利），不能在这里评分。"
    "您的会场：育红初中会场。请在您的会场群里评分，或私聊写明会场，例如：评分 育红初中会场 实验初中共同体 …"
)
NOT_A_JUDGE = "陈校长，您不是任何会场的评委，不能评分。如有疑问请联系教育股。"
SCORE = "评分 瑞泉中学 18 22 17 20 9"


@pytest.mark.parametrize(
    ("channel", "sender", "expected", "status", "person"),
    [
        ("app", "nobody", STRANGER_WECOM, "unknown_person", False),
        ("robot", "nobody", STRANGER_WECOM, "unknown_person", False),
        ("robot", "dangpanfeng", OTHER_VENUE, "refused", True),
        ("app", "chenxz", NOT_A_JUDGE, "refused", True),
        ("dingtalk", "ding-nobody", STRANGER_DING, "unknown_person", False),
    ],
    ids=[
        "unknown-wecom-app",
        "unknown-wecom-robot",
        "other-venue-judge",
        "principal",
        "unknown-ding",
    ],
)
def test_refused_senders_are_answered_logged_and_record_nothing(
    refusal_services: Services,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    channel: str,
    sender: str,
    expected: str,
    status: str,
    person: bool,
) -> None:
    services = refusal_services
    caplog.set_level(logging.INFO, logger="edubot")
    with _client(services) as client:
        if channel == "app":
            query, body = wecom_app_request(sender, SCORE, "8300000001", clock.now())
            response = client.post("/wecom/callback", params=query, content=body)
            answer = open_app_reply(response.content)
        elif channel == "robot":
            query, body = wecom_robot_request(sender, SCORE, "refuse-r", clock.now())
            response = client.post("/wecom/robot", params=query, content=body)
            answer = open_robot_reply(response.content)
        else:
            headers, body = dingtalk_request(sender, SCORE, "refuse-d", clock.now(), "")
            response = client.post("/dingtalk/callback", headers=headers, content=body)
            answer = _session_reply(services, "refuse-d")
    assert response.status_code == 200
    assert answer == expected
    if status == "unknown_person":
        platform = "dingtalk" if channel == "dingtalk" else "wecom"
        assert any(
            r.levelno == logging.WARNING and r.getMessage() == f"unknown sender {platform}:{sender}"
            for r in caplog.records
        ), caplog.text
    with transaction(services.factory) as session:
        row = session.scalars(select(InboundMessageRow)).one()
        assert (row.sender_id, row.status, row.reply_text) == (sender, status, expected)
        assert (row.person_id is not None) == person
        assert row.text.endswith(SCORE)
        outbox = session.scalars(select(OutboxRow)).all()
    assert _count(services, ScoreSheet) == 0
    assert _count(services, ScoreRevision) == 0
    # Only DingTalk's answer itself is queued (it goes back through the sessionWebhook).
    assert [o.target_kind for o in outbox] == (["session"] if channel == "dingtalk" else [])


# ================================================================== half-written records


def test_a_handler_crashing_midway_leaves_nothing_half_written(
    sqlite_services: Services,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    services = sqlite_services
    real = handlers.scoring.record_sheet

    def write_then_crash(*args: Any, **kwargs: Any) -> Any:
        sheet = real(*args, **kwargs)
        assert sheet.id is not None  # the sheet and its revision are flushed
        raise RuntimeError("bug after the write")

    monkeypatch.setattr(handlers.scoring, "record_sheet", write_then_crash)
    query, body = wecom_app_request("shenyi", SCORE, "8400000001", clock.now())
    with _client(services) as client:
        first = client.post("/wecom/callback", params=query, content=body)
        again = client.post("/wecom/callback", params=query, content=body)  # a retry replays
    assert first.status_code == again.status_code == 200
    assert open_app_reply(first.content) == open_app_reply(again.content) == POLITE_FAILURE
    assert "handler failed" in caplog.text
    assert "RuntimeError: bug after the write" in caplog.text
    with transaction(services.factory) as session:
        row = session.scalars(select(InboundMessageRow)).one()
        assert (row.status, row.reply_text) == ("error", POLITE_FAILURE)
    assert _count(services, ScoreSheet) == 0
    assert _count(services, ScoreRevision) == 0
    assert _count(services, OutboxRow) == 0


def test_an_answer_too_long_for_the_log_is_cut_not_failed_forever(
    services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply over MySQL's TEXT (here: thousands of refused lines echoed back) used to fail
    the transaction at every retry on MariaDB; it is cut to fit and answered the same each time."""
    huge = "\n".join(f"第{n}行：没有找到选手“某某”。" for n in range(1, 3001))
    assert len(huge.encode()) > 65_535
    monkeypatch.setitem(HANDLERS, Help, lambda _ctx, _command: Reply(huge))
    query, body = wecom_app_request("shenyi", "帮助", "8600000001", clock.now())
    with _client(services) as client:
        answers = [client.post("/wecom/callback", params=query, content=body) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    first, again = (open_app_reply(a.content) for a in answers)
    assert first == again
    assert first.endswith(TRUNCATED)
    assert huge.startswith(first.removesuffix(TRUNCATED))
    assert len(first.encode()) <= MAX_REPLY_BYTES + len(TRUNCATED.encode())
    with transaction(services.factory) as session:
        row = session.scalars(select(InboundMessageRow)).one()
        assert (row.status, row.reply_text) == ("ok", first)
