"""Alerts to the organizers' groups (``bot.outbox.alerts``): each group hears each alert once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.errors import PermanentDelivery
from bot.outbox.alerts import alert_organizers
from handlers.messages import OutboundMessage
from storage.db import transaction
from storage.models import OutboxRow
from tests.conftest import make_settings
from tests.support.campaign import campaign


@pytest.fixture
def two_organizer_groups(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    groups = campaign()["groups"]
    for key in ("office", "board"):
        groups.append(
            {"key": key, "platform": "wecom", "webhook": f"{key}-key", "organizers": True}
        )
    services = build_services(make_settings(sqlite_url, tmp_path, groups=groups), clock=clock)
    yield services
    services.engine.dispose()


def _alert(services: Services, target: str) -> None:
    failed = OutboundMessage(platform="wecom", target_kind="group", target=target, text="x")
    with transaction(services.factory) as session:
        alert_organizers(
            session,
            failed,
            f"wecom:{target}-key",
            PermanentDelivery("wecom webhook: errcode 93000", code=93000),
            services.clock.now(),
        )


def _alerted(services: Services) -> Counter[str]:
    with transaction(services.factory) as session:
        targets = session.scalars(select(OutboxRow.target).where(OutboxRow.reason == "alert"))
        return Counter(targets)


def test_every_organizer_group_gets_each_alert_once(two_organizer_groups: Services) -> None:
    _alert(two_organizer_groups, "ruiquan")
    _alert(two_organizer_groups, "ruiquan")  # the same failure again: no second alert
    assert _alerted(two_organizer_groups) == Counter({"office": 1, "board": 1})


def test_a_failing_organizer_group_is_not_told_about_itself(
    two_organizer_groups: Services,
) -> None:
    _alert(two_organizer_groups, "office")
    assert _alerted(two_organizer_groups) == Counter({"board": 1})


def test_an_alert_about_a_session_reply_does_not_show_its_url(
    two_organizer_groups: Services,
) -> None:
    url = "https://oapi.dingtalk.com/robot/sendBySession?session=s3cr3t"
    failed = OutboundMessage(platform="dingtalk", target_kind="session", target=url, text="x")
    with transaction(two_organizer_groups.factory) as session:
        alert_organizers(
            session,
            failed,
            "session:oapi.dingtalk.com/robot/sendBySession:0123456789abcdef",
            PermanentDelivery("dingtalk session: errcode 300001", code=300001),
            two_organizer_groups.clock.now(),
        )
    with transaction(two_organizer_groups.factory) as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.reason == "alert")).all()
        texts = [str(row.payload) for row in rows]
    assert len(texts) == 2
    assert all("s3cr3t" not in t and "sendBySession" not in t for t in texts)
    assert all("群里的一条回复" in t for t in texts)
