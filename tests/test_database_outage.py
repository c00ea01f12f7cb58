"""A database that stops answering (issue 17, items 4 and 5): behind a proxy that stops
forwarding, a webhook answers 503 within 3 s and ``/healthz`` says degraded within 1 s;
when the database answers again the service recovers by itself, and the message refused
with 503 is stored exactly once when the platform retries it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from storage.db import transaction
from storage.models import InboundMessageRow, ScoreSheet
from tests.conftest import make_settings
from tests.support.proxy import BlackHoleProxy
from tests.support.wire import wecom_app_request

pytestmark = pytest.mark.fault


@pytest.fixture
def proxied(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[Services, BlackHoleProxy]]:
    url = make_url(db_url)
    assert url.port is not None
    with BlackHoleProxy(url.port) as proxy:
        through = url.set(port=proxy.port).render_as_string(hide_password=False)
        services = build_services(make_settings(through, tmp_path), clock=clock)
        try:
            yield services, proxy
        finally:
            proxy.resume()
            services.engine.dispose()


def _count(services: Services, model: type) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    "db_url",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
    indirect=True,
)
def test_a_database_that_stops_answering_costs_seconds_and_recovers(
    proxied: tuple[Services, BlackHoleProxy], clock: FakeClock
) -> None:
    services, proxy = proxied
    first = wecom_app_request("shenyi", "评分 瑞泉中学 18 22 17 20 9", "9100001", clock.now())
    second = wecom_app_request("shenyi", "评分 杜桥中学 18 22 17 20 9", "9100002", clock.now())
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        assert client.post("/wecom/callback", params=first[0], content=first[1]).status_code == 200

        proxy.stop_forwarding()
        started = time.monotonic()
        refused = client.post("/wecom/callback", params=second[0], content=second[1])
        took = time.monotonic() - started
        assert refused.status_code == 503
        assert took < 3.0  # WeCom gives up at 5 s; it must hear 503 and retry

        started = time.monotonic()
        health = client.get("/healthz")
        took = time.monotonic() - started
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert took < 1.0

        proxy.resume()
        deadline = time.monotonic() + 15
        retried = client.post("/wecom/callback", params=second[0], content=second[1])
        while retried.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)  # connections cut during the outage are being replaced
            retried = client.post("/wecom/callback", params=second[0], content=second[1])
        assert retried.status_code == 200
        assert client.get("/healthz").json()["status"] == "ok"
    assert _count(services, InboundMessageRow) == 2
    assert _count(services, ScoreSheet) == 2
