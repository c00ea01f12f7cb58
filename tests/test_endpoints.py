"""The HTTP endpoints: public vectors through the real routes, tampering, malformed bodies,
sizes, retries. Every refusal is a 4xx with nothing recorded; nothing is ever a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from storage.db import transaction
from storage.models import InboundMessageRow, OutboxRow, ScoreSheet
from tests.conftest import make_settings
from tests.support import vectors as v
from tests.support.wire import (
    dingtalk_request,
    open_app_reply,
    open_robot_reply,
    wecom_app_request,
    wecom_robot_request,
)


def _client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(sqlite_services: Services) -> Iterator[TestClient]:
    yield from _client(sqlite_services)


def _count(services: Services, model: type) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ------------------------------------------------------------------ public vectors


@pytest.fixture
def vector_services(tmp_path: Path) -> Iterator[tuple[Services, FakeClock]]:
    """The app configured with wechatpy's vector keys, the clock at the vector's time."""
    clock = FakeClock(datetime.fromtimestamp(int(v.URL_TIMESTAMP), UTC))
    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", tmp_path)
    services = build_services(settings, clock=clock)
    yield services, clock
    services.engine.dispose()


def test_wecom_url_verification_vector_answers_the_plaintext(
    vector_services: tuple[Services, FakeClock],
) -> None:
    services, _ = vector_services
    with TestClient(create_app(services)) as client:
        response = client.get(
            "/wecom/callback",
            params={
                "msg_signature": v.URL_SIGNATURE,
                "timestamp": v.URL_TIMESTAMP,
                "nonce": v.URL_NONCE,
                "echostr": v.URL_ECHOSTR,
            },
        )
    assert response.status_code == 200
    assert response.content == v.URL_PLAINTEXT.encode()  # no quotes, BOM or newline


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nonce", "437374424"),
        ("msg_signature", "dd6b9c95b495b3f7e2901bfbc76c664930ffdb97"),
        ("timestamp", "1411443781"),
        ("echostr", v.URL_ECHOSTR.replace("4By", "5By")),
    ],
    ids=["nonce", "signature", "timestamp", "echostr"],
)
def test_wecom_url_verification_tampered_is_403(
    vector_services: tuple[Services, FakeClock], field: str, value: str
) -> None:
    services, _ = vector_services
    params = {
        "msg_signature": v.URL_SIGNATURE,
        "timestamp": v.URL_TIMESTAMP,
        "nonce": v.URL_NONCE,
        "echostr": v.URL_ECHOSTR,
        field: value,
    }
    with TestClient(create_app(services)) as client:
        assert client.get("/wecom/callback", params=params).status_code == 403


def _vector_envelope(encrypt: str = v.MSG_ENCRYPT) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{v.WECOM_CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    ).encode()


def test_wecom_message_vector_is_accepted_and_answered(
    vector_services: tuple[Services, FakeClock],
) -> None:
    services, clock = vector_services
    clock.set(datetime.fromtimestamp(int(v.MSG_TIMESTAMP), UTC))
    params = {"msg_signature": v.MSG_SIGNATURE, "timestamp": v.MSG_TIMESTAMP, "nonce": v.MSG_NONCE}
    with TestClient(create_app(services)) as client:
        response = client.post("/wecom/callback", params=params, content=_vector_envelope())
    assert response.status_code == 200
    # The vector's sender "messense" is not in the campaign: told whom to ask, nothing scored.
    assert "messense" in open_app_reply(response.content)
    assert "教育股" in open_app_reply(response.content)
    with transaction(services.factory) as session:
        row = session.scalars(select(InboundMessageRow)).one()
        assert (row.message_id, row.text, row.status) == (
            "4363689963896700987",
            "test",
            "unknown_person",
        )


@pytest.mark.parametrize(
    ("params", "encrypt"),
    [
        ({"nonce": "461056295"}, v.MSG_ENCRYPT),
        ({"msg_signature": "0" * 40}, v.MSG_ENCRYPT),
        (
            {},
            v.MSG_ENCRYPT[:100] + ("A" if v.MSG_ENCRYPT[100] != "A" else "B") + v.MSG_ENCRYPT[101:],
        ),
        ({"timestamp": "1411525904"}, v.MSG_ENCRYPT),
    ],
    ids=["nonce", "signature", "ciphertext", "timestamp"],
)
def test_wecom_message_vector_tampered_is_403_and_leaves_no_trace(
    vector_services: tuple[Services, FakeClock], params: dict[str, str], encrypt: str
) -> None:
    services, clock = vector_services
    clock.set(datetime.fromtimestamp(int(v.MSG_TIMESTAMP), UTC))
    query = {"msg_signature": v.MSG_SIGNATURE, "timestamp": v.MSG_TIMESTAMP, "nonce": v.MSG_NONCE}
    with TestClient(create_app(services)) as client:
        response = client.post(
            "/wecom/callback", params={**query, **params}, content=_vector_envelope(encrypt)
        )
    assert response.status_code == 403
    assert _count(services, InboundMessageRow) == 0


def test_wecom_vector_outside_the_timestamp_window_is_403(
    vector_services: tuple[Services, FakeClock],
) -> None:
    services, clock = vector_services
    clock.set(datetime.fromtimestamp(int(v.MSG_TIMESTAMP), UTC) + timedelta(hours=2))
    params = {"msg_signature": v.MSG_SIGNATURE, "timestamp": v.MSG_TIMESTAMP, "nonce": v.MSG_NONCE}
    with TestClient(create_app(services)) as client:
        assert (
            client.post("/wecom/callback", params=params, content=_vector_envelope()).status_code
            == 403
        )


def _dingtalk_vector_body() -> bytes:
    return json.dumps(
        {
            "msgId": "vector-1",
            "msgtype": "text",
            "text": {"content": " 帮助"},
            "conversationType": "1",
            "senderStaffId": "ding-shenyi",
            "senderNick": "申毅",
            "sessionWebhook": "http://127.0.0.1:9/session/x",
            "sessionWebhookExpiredTime": 1700005400000,
            "createAt": 1700000000000,
        },
        ensure_ascii=False,
    ).encode()


def test_dingtalk_signature_vector_is_accepted(vector_services: tuple[Services, FakeClock]) -> None:
    services, clock = vector_services
    clock.set(datetime.fromtimestamp(1700000000, UTC) + timedelta(minutes=5))
    headers = {"timestamp": v.DINGTALK_TIMESTAMP_MS, "sign": v.DINGTALK_SIGN}
    with TestClient(create_app(services)) as client:
        response = client.post(
            "/dingtalk/callback", headers=headers, content=_dingtalk_vector_body()
        )
    assert response.status_code == 200
    with transaction(services.factory) as session:
        reply = session.scalars(select(OutboxRow)).one()
    # The answer goes to the sessionWebhook through the outbox.
    assert reply.target_kind == "session"
    assert "【评委】" in reply.payload["text"]


@pytest.mark.parametrize(
    ("headers", "offset"),
    [
        ({"sign": v.DINGTALK_SIGN.replace("+", " ")}, timedelta(0)),  # a raw + read as a space
        ({"sign": v.DINGTALK_SIGN[:-2] + "d="}, timedelta(0)),
        ({"timestamp": "1700000000001"}, timedelta(0)),
        ({}, timedelta(hours=1, seconds=1)),  # a valid request replayed after an hour
        ({"sign": ""}, timedelta(0)),
    ],
    ids=["plus-as-space", "flipped", "timestamp", "stale-replay", "missing"],
)
def test_dingtalk_tampered_is_403_and_leaves_no_trace(
    vector_services: tuple[Services, FakeClock], headers: dict[str, str], offset: timedelta
) -> None:
    services, clock = vector_services
    clock.set(datetime.fromtimestamp(1700000000, UTC) + offset)
    base = {"timestamp": v.DINGTALK_TIMESTAMP_MS, "sign": v.DINGTALK_SIGN}
    with TestClient(create_app(services)) as client:
        response = client.post(
            "/dingtalk/callback", headers={**base, **headers}, content=_dingtalk_vector_body()
        )
    assert response.status_code == 403
    assert _count(services, InboundMessageRow) == 0
    assert _count(services, OutboxRow) == 0


# ------------------------------------------------------------------ malformed, size, missing


def test_malformed_bodies_are_400(client: TestClient, clock: FakeClock) -> None:
    query, _ = wecom_app_request("shenyi", "帮助", "m1", clock.now())
    assert client.post("/wecom/callback", params=query, content=b"<xml><oops").status_code == 400
    assert client.post("/wecom/robot", params=query, content=b"{not json").status_code == 400
    headers, _ = dingtalk_request("ding-shenyi", "帮助", "d1", clock.now())
    assert client.post("/dingtalk/callback", headers=headers, content=b"[1, 2]").status_code == 400


def test_missing_signature_is_403(client: TestClient) -> None:
    assert client.post("/wecom/callback", content=b"<xml/>").status_code == 403
    assert client.post("/wecom/robot", content=b"{}").status_code == 403
    assert client.post("/dingtalk/callback", content=b"{}").status_code == 403
    assert client.get("/wecom/callback").status_code == 403


def test_bodies_over_one_mebibyte_are_413(client: TestClient, clock: FakeClock) -> None:
    query, _ = wecom_app_request("shenyi", "帮助", "m1", clock.now())
    big = b"<xml>" + b"a" * (1024 * 1024) + b"</xml>"
    assert client.post("/wecom/callback", params=query, content=big).status_code == 413
    headers, _ = dingtalk_request("ding-shenyi", "帮助", "d1", clock.now())

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream itself is cut off
        for _ in range(20):
            yield b"x" * 65536

    assert client.post("/dingtalk/callback", headers=headers, content=chunks()).status_code == 413


def test_healthz_reports_database_and_backlog(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "database": True,
        "database_read": True,
        "database_write": True,
        "scheduler": True,
        "outbox_backlog": 0,
        "outbox_oldest_due": None,
        "connections": [],
        "warnings": [],
    }


# ------------------------------------------------------------------ retries and durability


def test_wecom_retries_record_once_and_answer_the_same(
    sqlite_services: Services, client: TestClient, clock: FakeClock
) -> None:
    query, body = wecom_app_request("shenyi", "评分 瑞泉中学 18 22 17 20 9", "retry-1", clock.now())
    answers = [
        open_app_reply(client.post("/wecom/callback", params=query, content=body).content)
        for _ in range(3)
    ]
    assert answers[0].startswith("已记录 申毅 → 瑞泉中学共同体：86 分")
    assert answers == [answers[0]] * 3
    assert _count(sqlite_services, InboundMessageRow) == 1
    assert _count(sqlite_services, ScoreSheet) == 1


def test_dingtalk_retries_queue_one_answer(
    sqlite_services: Services, client: TestClient, clock: FakeClock
) -> None:
    headers, body = dingtalk_request(
        "ding-shenyi", "评分 瑞泉中学 18 22 17 20 9", "dd-1", clock.now(), ""
    )
    for _ in range(2):
        assert client.post("/dingtalk/callback", headers=headers, content=body).status_code == 200
    assert _count(sqlite_services, InboundMessageRow) == 1
    assert _count(sqlite_services, ScoreSheet) == 1
    assert _count(sqlite_services, OutboxRow) == 1


def test_robot_group_message_is_answered_in_the_stream(
    client: TestClient, clock: FakeClock
) -> None:
    query, body = wecom_robot_request("liangfei", "评分 2号 19 23 18 22 9", "r-1", clock.now())
    response = client.post("/wecom/robot", params=query, content=body)
    assert response.status_code == 200
    assert open_robot_reply(response.content).startswith("已记录 梁飞 → 杜桥中学：91 分")


def test_a_locked_database_answers_503_and_records_nothing(
    sqlite_services: Services, client: TestClient, clock: FakeClock
) -> None:
    """Another process holds the write lock past the busy timeout: retryable, not 500."""
    import sqlite3

    path = sqlite_services.engine.url.database
    assert path
    blocker = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    sqlite_services.engine.dispose()
    from storage.db import make_engine, make_session_factory

    locked = make_engine(f"sqlite:///{path}", busy_timeout_ms=100)
    sqlite_services.engine = locked
    sqlite_services.factory.configure(bind=locked)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        query, body = wecom_app_request(
            "shenyi", "评分 瑞泉中学 18 22 17 20 9", "lock-1", clock.now()
        )
        response = client.post("/wecom/callback", params=query, content=body)
        assert response.status_code == 503
        assert "Traceback" not in response.text
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert make_session_factory  # imported for the rebinding above
    # After the lock is gone, the platform's retry is recorded normally, once.
    response = client.post("/wecom/callback", params=query, content=body)
    assert response.status_code == 200
    assert _count(sqlite_services, ScoreSheet) == 1


def test_a_score_message_refused_on_every_line_is_logged_as_refused(
    sqlite_services: Services, client: TestClient, clock: FakeClock
) -> None:
    query, body = wecom_app_request(
        "shenyi", "评分\n瑞泉中学 18 27 17 20 9\n杜桥", "ref-1", clock.now()
    )
    answer = open_app_reply(client.post("/wecom/callback", params=query, content=body).content)
    assert answer.splitlines()[0] == (
        "第2行：任务措施满分 25，收到 27。请改正后重新发送：评分 瑞泉中学共同体 18 ？ 17 20 9"
    )
    with transaction(sqlite_services.factory) as session:
        assert session.scalars(select(InboundMessageRow.status)).one() == "refused"
    assert _count(sqlite_services, ScoreSheet) == 0


def test_a_batch_over_one_hundred_lines_is_refused_whole(
    sqlite_services: Services, client: TestClient, clock: FakeClock
) -> None:
    lines = "\n".join("瑞泉中学 18 22 17 20 9" for _ in range(101))
    query, body = wecom_app_request("shenyi", f"评分\n{lines}", "big-1", clock.now())
    answer = open_app_reply(client.post("/wecom/callback", params=query, content=body).content)
    assert answer == "一条消息最多评 100 行，收到 101 行。请分几条发送。"
    assert _count(sqlite_services, ScoreSheet) == 0
