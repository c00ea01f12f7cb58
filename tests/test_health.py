"""``/healthz`` tells the truth (issue 17, item 4): it proves the database can be written,
reports each part, and answers within a second even while the database hangs."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from bot.app import Services, create_app
from bot.clock import FakeClock
from bot.runtime import attach_background
from bot.scheduler import Scheduler
from handlers.messages import OutboundMessage
from handlers.pushes import enqueue
from storage.db import transaction
from tests.support.wire import wecom_app_request

pytestmark = pytest.mark.fault


@pytest.fixture
def client(sqlite_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_services), raise_server_exceptions=False) as client:
        yield client


def _read_only(services: Services) -> None:
    """From now on every connection refuses writes, as a read-only database file does."""

    def query_only(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only=ON")

    event.listen(services.engine, "connect", query_only)
    services.engine.dispose()


def test_a_database_that_refuses_writes_is_degraded_not_ok(
    sqlite_services: Services, client: TestClient, clock: FakeClock
) -> None:
    _read_only(sqlite_services)
    query, body = wecom_app_request("shenyi", "评分 瑞泉中学 18 22 17 20 9", "9200001", clock.now())
    assert client.post("/wecom/callback", params=query, content=body).status_code == 503

    health = client.get("/healthz")
    assert health.status_code == 503
    report = health.json()
    assert report["status"] == "degraded"
    assert report["database_read"] is True
    assert report["database_write"] is False
    assert report["database"] is False
    assert "readonly" in report["problem"]


def test_the_oldest_due_push_and_the_backlog_are_reported(
    sqlite_services: Services, client: TestClient, clock: FakeClock
) -> None:
    now = clock.now()
    with transaction(sqlite_services.factory) as session:
        for minutes in (30, 5):
            enqueue(
                session,
                OutboundMessage("wecom", "group", "ruiquan", f"提醒 {minutes}"),
                dedupe_key=f"health:{minutes}",
                due_at=now - timedelta(minutes=minutes),
                now=now,
            )
        enqueue(
            session,
            OutboundMessage("wecom", "group", "ruiquan", "明天"),
            dedupe_key="health:later",
            due_at=now + timedelta(days=1),
            now=now,
        )
    report = client.get("/healthz").json()
    assert report["outbox_backlog"] == 2
    assert report["outbox_oldest_due"] == (now - timedelta(minutes=30)).isoformat()
    assert report["status"] == "ok"


def test_healthz_answers_within_a_second_while_the_database_is_locked(
    sqlite_services: Services, client: TestClient, tmp_path: object
) -> None:
    url = sqlite_services.engine.url.database
    assert url is not None
    other = sqlite3.connect(url, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock and hangs
    try:
        for _ in range(3):  # repeated polls share one stuck check instead of piling up
            started = time.monotonic()
            health = client.get("/healthz")
            assert time.monotonic() - started < 1.0
            assert health.status_code == 503
            assert health.json()["database_write"] is False
    finally:
        other.execute("ROLLBACK")
        other.close()
    deadline = time.monotonic() + 10
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "healthz did not recover after the lock was freed"
        time.sleep(0.1)


def test_a_scheduler_that_stopped_is_degraded(sqlite_services: Services) -> None:
    """Reminders and pushes stop with the scheduler while webhooks still answer: not ok."""
    answers = httpx.MockTransport(lambda _: httpx.Response(200, json={"errcode": 0}))
    with httpx.Client(transport=answers) as http:
        attach_background(sqlite_services, http=http)
        (scheduler,) = [p for p in sqlite_services.background if isinstance(p, Scheduler)]
        with TestClient(create_app(sqlite_services), raise_server_exceptions=False) as client:
            before = client.get("/healthz")
            assert (before.status_code, before.json()["scheduler"]) == (200, True)
            scheduler.stop()
            after = client.get("/healthz")
            assert after.status_code == 503
            assert (after.json()["status"], after.json()["scheduler"]) == ("degraded", False)
