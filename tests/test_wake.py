"""A message that queues a push wakes the outbox at once, on every platform; one that
queues nothing does not (the outbox would otherwise wait for its next poll)."""

from __future__ import annotations

from itertools import count

import pytest
from sqlalchemy import func, select

from bot.app import Services
from handlers.messages import InboundMessage
from storage.db import transaction
from storage.models import OutboxRow

IDS = count()


class CountingWorker:
    """A background worker that only counts its wakes."""

    def __init__(self) -> None:
        self.wakes = 0

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def healthy(self) -> bool:
        return True

    def wake(self) -> None:
        self.wakes += 1


@pytest.fixture
def worker(sqlite_services: Services) -> CountingWorker:
    counting = CountingWorker()
    sqlite_services.background.append(counting)
    return counting


def send(services: Services, sender: str, text: str) -> str:
    message = InboundMessage(
        platform="wecom",
        channel="wecom_app",
        message_id=f"w{next(IDS)}",
        sender_id=sender,
        text=text,
        chat_type="private",
    )
    return services.dispatcher.process(message).reply.text


def pending(services: Services) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


def test_a_wecom_message_that_queues_a_push_wakes_the_outbox(
    sqlite_services: Services, worker: CountingWorker
) -> None:
    before = pending(sqlite_services)
    reply = send(sqlite_services, "lixuebin", "导出 瑞泉中学会场")
    assert "已导出" in reply
    assert pending(sqlite_services) == before + 1  # the sheet, pushed to the venue group
    assert worker.wakes == 1


def test_a_message_that_queues_nothing_does_not_wake_it(
    sqlite_services: Services, worker: CountingWorker
) -> None:
    before = pending(sqlite_services)
    assert "评分" in send(sqlite_services, "shenyi", "帮助")
    assert pending(sqlite_services) == before
    assert worker.wakes == 0
