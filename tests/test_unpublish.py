"""撤销公布: the host or an organizer reopens a published venue; it is audited, every group
that received the result is told it no longer stands, and publishing again pushes anew."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import Services
from handlers.commands import Unpublish
from handlers.messages import InboundMessage, message_of
from handlers.parsing import parse
from handlers.score_sheet import export_venue
from storage.db import transaction
from storage.models import OutboxRow
from storage.people import venue_by_key
from storage.venue_events import venue_events

IDS = count()


def say(services: Services, user: str, text: str) -> str:
    message = InboundMessage("wecom", "wecom_app", f"u{next(IDS)}", user, text, "private")
    return services.dispatcher.process(message).reply.text


def pushed(services: Services, prefix: str) -> list[tuple[str, str]]:
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [
            (row.target, message_of(row.payload).text)
            for row in rows
            if row.dedupe_key.startswith(prefix)
        ]


def _publish(services: Services) -> None:
    for judge, total in (("shenyi", 86), ("liangfei", 88), ("zhangweili", 87)):
        batch = "\n".join(f"{n}号 {total - n}" for n in range(1, 6))
        say(services, judge, f"评分\n{batch}")
    assert say(services, "lixuebin", "公布").startswith("已公布并锁定")


@pytest.mark.parametrize(
    ("text", "venue"),
    [("撤销公布", ""), ("取消公布 瑞泉中学会场", "瑞泉中学会场"), ("撤回公布瑞泉", "瑞泉")],
)
def test_parse(text: str, venue: str) -> None:
    assert parse(text) == Unpublish(venue)


def test_unpublish_reopens_audits_and_corrects_then_publish_again_pushes(
    sqlite_services: Services,
) -> None:
    _publish(sqlite_services)
    locked = say(sqlite_services, "shenyi", "更正 1号 90")
    assert locked.startswith("瑞泉中学会场成绩已于")
    assert locked.endswith(
        "如需改分，请联系主持人李学斌先发送：撤销公布 瑞泉中学会场，再发送更正。"
    )
    assert say(sqlite_services, "lixuebin", "公布").endswith(
        "如需修改，请先发送：撤销公布 瑞泉中学会场"
    )

    reply = say(sqlite_services, "lixuebin", "撤销公布")

    assert reply == (
        "已撤销瑞泉中学会场的成绩公布，会场已解锁，评委可以更正评分。"
        "已通知：领导小组群、瑞泉中学会场群。更正完成后请发送：公布 瑞泉中学会场"
    )
    corrections = pushed(sqlite_services, "unpublish:")
    assert [target for target, _ in corrections] == ["leaders", "ruiquan"]
    assert corrections[0][1].startswith("【撤销公布】学校管理论坛·瑞泉中学会场于")
    assert "已由李学斌撤销，此前公布的排名作废" in corrections[0][1]

    assert say(sqlite_services, "shenyi", "更正 1号 90").startswith("已更正")
    assert say(sqlite_services, "lixuebin", "公布").startswith("已公布并锁定")
    again = pushed(sqlite_services, "publish:ruiquan:leaders")
    assert len(again) == 2
    assert again[1][1].startswith("【成绩重新公布】")

    with sqlite_services.factory() as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        events = venue_events(session, venue.id)
    assert [(e.action, e.person) for e in events] == [
        ("publish", "李学斌"),
        ("unpublish", "李学斌"),
        ("publish", "李学斌"),
    ]
    assert events[1].source == "私聊（企业微信）"


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        (
            "lixuebin",
            "撤销公布",
            "瑞泉中学会场成绩尚未公布，无需撤销：评委可以直接发送“更正 选手 分数”修改。",
        ),
        (
            "wangjz",
            "撤销公布 瑞泉中学会场",
            "只有瑞泉中学会场的主持人（李学斌）或组织者可以撤销公布成绩。"
            "请联系李学斌发送：撤销公布 瑞泉中学会场",
        ),
        (
            "shenyi",
            "撤销公布",
            "“撤销公布”只有会场主持人和组织者可以使用，您不在其中。"
            "发送“进度”查看您还有哪些选手未评。",
        ),
    ],
)
def test_refusals(sqlite_services: Services, user: str, text: str, expected: str) -> None:
    assert say(sqlite_services, user, text) == expected
    assert pushed(sqlite_services, "unpublish:") == []


def test_the_exported_audit_shows_publishing_and_its_withdrawal(
    sqlite_services: Services, tmp_path: Path
) -> None:
    _publish(sqlite_services)
    say(sqlite_services, "lixuebin", "撤销公布")
    with sqlite_services.factory() as session:
        _, path = export_venue(
            session, "ruiquan", fmt="xlsx", out=tmp_path / "s.xlsx", tz=sqlite_services.settings.tz
        )
    assert path is not None
    rows = list(load_workbook(path)["修改记录"].iter_rows(min_row=2, values_only=True))
    assert [row[1:4] for row in rows[-2:]] == [
        ("李学斌", "（全会场）", "公布"),
        ("李学斌", "（全会场）", "撤销公布"),
    ]
    assert rows[-1][7] == "私聊（企业微信）"
    assert len(rows) == 15 + 2  # every score, then the two events in time order
