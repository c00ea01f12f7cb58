"""A venue with ``auto_publish`` publishes itself on completion, and says so: its completion
message never asks the host to send 公布 (PRODUCT §4)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from handlers.messages import InboundMessage, message_of
from storage.db import transaction
from storage.models import OutboxRow
from tests.support.campaign import campaign

IDS = count()


@pytest.fixture
def auto(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    data = campaign(sqlite_url)
    data["venues"][0]["auto_publish"] = True
    data["server"] = {"data_dir": str(tmp_path / "data")}
    services = build_services(settings_from_mapping(data), clock=clock)
    yield services
    services.engine.dispose()


def say(services: Services, user: str, text: str) -> str:
    message = InboundMessage("wecom", "wecom_app", f"a{next(IDS)}", user, text, "private")
    return services.dispatcher.process(message).reply.text


def group_texts(services: Services, key: str) -> list[str]:
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [message_of(r.payload).text for r in rows if r.dedupe_key.startswith(key)]


def _score(services: Services, first: int) -> str:
    """Every judge scores every contestant; 张伟利 gives 1号 ``first``."""
    replies = []
    for judge, total in (("shenyi", 86), ("liangfei", 88), ("zhangweili", 87)):
        one = first if judge == "zhangweili" else total
        rest = "\n".join(f"{n}号 {total - n}" for n in range(2, 6))
        replies.append(say(services, judge, f"评分\n1号 {one}\n{rest}"))
    return replies[-1]


def test_completion_publishes_and_does_not_ask_for_publishing(auto: Services) -> None:
    last = _score(auto, 87)

    assert last.endswith("🎉 瑞泉中学会场全部评分已完成。成绩已自动公布。")
    [done] = group_texts(auto, "complete:ruiquan")
    assert done == "瑞泉中学会场全部评分已完成（3 位评委 × 5 位选手）。成绩已自动公布。"
    assert "公布" not in done.replace("自动公布", "")
    assert group_texts(auto, "publish:ruiquan:ruiquan")


def test_an_outlier_holds_the_automatic_publication_until_confirmed(auto: Services) -> None:
    _score(auto, 60)

    [done] = group_texts(auto, "complete:ruiquan")
    assert done == (
        "瑞泉中学会场全部评分已完成（3 位评委 × 5 位选手）。"
        "有评分与其他评委相差过大，评委确认或更正后成绩将自动公布。"
    )
    assert group_texts(auto, "publish:") == []

    assert say(auto, "zhangweili", "确认 1号") == (
        "已确认 张伟利 → 瑞泉中学共同体：60 分\n瑞泉中学会场成绩已自动公布。"
    )
    assert group_texts(auto, "publish:ruiquan:ruiquan")


def test_a_correction_back_in_range_publishes_too(auto: Services) -> None:
    _score(auto, 60)

    assert say(auto, "zhangweili", "更正 1号 87").endswith("瑞泉中学会场成绩已自动公布。")
    assert group_texts(auto, "publish:ruiquan:leaders")
