"""Work that fell due while the service was down (issue 17, item 10): a digest whose firing
no instance saw is queued at the next start, once, or dropped with a log line when it has
become too late to be useful."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.planning.digests import catch_up_digests, last_firing
from bot.runtime import make_outbox
from bot.scheduler import DIGEST_GRACE, Scheduler
from storage.db import transaction
from storage.models import OutboxRow
from tests.conftest import make_settings

pytestmark = pytest.mark.fault

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHTLY = {"key": "nightly", "title": "夜报", "cron": "47 0 * * *", "to": ["ruiquan"]}
MINUTELY = {"key": "minutely", "title": "分钟报", "cron": "* * * * *", "to": ["yuhong"]}


def _local(hhmm: str) -> datetime:
    """2022-02-14 hh:mm in Shanghai, as an aware UTC datetime."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(2022, 2, 13, 16, 0, tzinfo=UTC) + timedelta(hours=hour, minutes=minute)


def _services(tmp_path: Path, now: datetime) -> tuple[Services, FakeClock]:
    clock = FakeClock(now)
    settings = make_settings(
        f"sqlite:///{tmp_path / 'm.db'}", tmp_path, digests=[NIGHTLY, MINUTELY]
    )
    return build_services(settings, clock=clock), clock


def _digest_rows(services: Services) -> list[str]:
    with transaction(services.factory) as session:
        rows = session.scalars(
            select(OutboxRow.dedupe_key).where(OutboxRow.dedupe_key.like("digest:%"))
        )
        return sorted(rows)


@pytest.mark.parametrize(
    ("cron", "now", "expect"),
    [
        ("47 0 * * *", "00:50", _local("00:47")),
        ("47 0 * * *", "00:47", _local("00:47")),
        ("* * * * *", "00:48", _local("00:48")),
        ("0 17 * * fri", "00:50", _local("17:00") - timedelta(days=3)),  # Friday 2022-02-11
        ("0 0 1 1 *", "00:50", None),  # New Year's Day: beyond the 8-day look-back
    ],
    ids=["after", "at", "every-minute", "weekly", "yearly"],
)
def test_last_firing(cron: str, now: str, expect: datetime | None) -> None:
    assert last_firing(cron, SHANGHAI, _local(now)) == expect


def test_a_restart_sends_the_digests_that_fell_due_while_down_once(tmp_path: Path) -> None:
    services, clock = _services(tmp_path, _local("00:50"))  # down over 00:47 and 00:48
    try:
        with transaction(services.factory) as session:
            added = catch_up_digests(session, services.settings, clock.now(), DIGEST_GRACE)
        keys = _digest_rows(services)
        assert added == 2
        assert keys == [
            "digest:minutely:2022-02-14T00:50:yuhong",
            "digest:nightly:2022-02-14T00:47:ruiquan",
        ]
        # A second instance (or a second restart) starting now adds nothing.
        with transaction(services.factory) as session:
            again = catch_up_digests(session, services.settings, clock.now(), DIGEST_GRACE)
        assert again == 0
        assert _digest_rows(services) == keys
    finally:
        services.engine.dispose()


def test_a_digest_missed_by_more_than_the_grace_is_dropped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    services, clock = _services(tmp_path, _local("02:30"))
    caplog.set_level(logging.INFO, logger="edubot.planning")
    try:
        with transaction(services.factory) as session:
            catch_up_digests(session, services.settings, clock.now(), DIGEST_GRACE)
        keys = _digest_rows(services)
        assert not [k for k in keys if k.startswith("digest:nightly:")]
        assert any(
            "digest nightly fell due" in r.getMessage() and "not sent" in r.getMessage()
            for r in caplog.records
        )
    finally:
        services.engine.dispose()


def test_serve_catches_up_when_its_scheduler_starts(tmp_path: Path) -> None:
    services, clock = _services(tmp_path, _local("00:50"))
    with httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"errcode": 0}))
    ) as http:
        scheduler = Scheduler(
            services.factory, services.settings, make_outbox(services, http), clock=clock
        )
        try:
            scheduler.start()
        finally:
            scheduler.stop()
            services.engine.dispose()
    services, _ = _services(tmp_path, _local("00:50"))
    try:
        assert [k for k in _digest_rows(services) if k.startswith("digest:nightly:")]
    finally:
        services.engine.dispose()
