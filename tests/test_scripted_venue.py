"""A whole venue (3 judges × 5 contestants, 附件3) played through each inbound endpoint with
real encryption and signing, ending in the right ranking and 附件4 CSV. Includes a refused
out-of-range score, a correction, a bare total, a half point and a tie on the rounded mean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.app import Services, create_app
from bot.clock import FakeClock
from handlers.score_sheet import export_venue
from storage.db import transaction
from storage.models import OutboxRow, ScoreRevision, ScoreSheet, Venue
from tests.support.wire import (
    dingtalk_request,
    open_app_reply,
    open_robot_reply,
    wecom_app_request,
    wecom_robot_request,
)

DING = {
    "申毅": "ding-shenyi",
    "梁飞": "ding-liangfei",
    "张伟利": "ding-zhangweili",
    "李学斌": "ding-lixuebin",
}
WECOM = {"申毅": "shenyi", "梁飞": "liangfei", "张伟利": "zhangweili", "李学斌": "lixuebin"}

# (judge, message, expected start of the answer)
SCRIPT: list[tuple[str, str, str]] = [
    (
        "申毅",
        "评分 瑞泉中学 18 22 17 20 9",
        "已记录 申毅 → 瑞泉中学共同体：86 分（目标18 措施22 进展17 成效20 表现9） · 本会场您还剩 4 位未评",
    ),
    ("申毅", "评分\n杜桥 19 23 18 22 9\n3号 18 22 18 21 9", "已记录 申毅 → 杜桥中学：91 分"),
    (
        "申毅",
        "打分 韩马 目标17 措施20 进展16 成效20 表现8\n评分 5号 16 20 15 19 8",
        "已记录 申毅 → 韩马初中共同体：81 分",
    ),
    ("梁飞", "评分 瑞泉中学共同体 90", "已记录 梁飞 → 瑞泉中学共同体：90 分（总分）"),
    ("梁飞", "评分 杜桥中学 88分\n评分 尚德 八十九\n韩马 80", "已记录 梁飞 → 杜桥中学：88 分"),
    ("梁飞", "评分 育红 16 20 15.5 20 8", "已记录 梁飞 → 育红初中共同体：79.5 分"),
    ("张伟利", "评分 瑞泉中学 18 27 17 20 9", "任务措施满分 25，收到 27。"),
    ("张伟利", "评分 瑞泉中学 19 22 17 20 9", "已记录 张伟利 → 瑞泉中学共同体：87 分"),
    ("张伟利", "评分 杜桥 19 23 18 20 9", "已记录 张伟利 → 杜桥中学：89 分"),
    (
        "张伟利",
        "更正 杜桥 19 23 18 18 9",
        "已更正 张伟利 → 杜桥中学：87 分（目标19 措施23 进展18 成效18 表现9）（原 89 分）",
    ),
    ("张伟利", "评分 尚德 86\n韩马 82", "已记录 张伟利 → 尚德中学：86 分（总分）"),
    (
        "张伟利",
        "评分 育红初中共同体 １６　２０　１６　２０　８",
        "已记录 张伟利 → 育红初中共同体：80 分（目标16 措施20 进展16 成效20 表现8） · 您在瑞泉中学会场的评分已全部完成",
    ),
]

EXPECTED_CSV = (
    "学校管理论坛·瑞泉中学会场成绩汇总表\n"
    "姓名,评委一得分（申毅）,评委二得分（梁飞）,评委三得分（张伟利）,平均成绩（一位小数）,排名\n"
    "杜桥中学,91,88,87,88.7,1\n"  # 266/3 = 88.67
    "瑞泉中学共同体,86,90,87,87.7,2\n"  # 263/3 = 87.67, tied with 尚德 and listed first
    "尚德中学,88,89,86,87.7,2\n"  # 263/3 = 87.67
    "韩马初中共同体,81,80,82,81.0,4\n"  # 1, 2, 2, 4
    "育红初中共同体,78,79.5,80,79.2,5\n"  # 237.5/3 = 79.17
)

Say = Callable[[str, str], str]


@pytest.fixture(params=["wecom_app", "wecom_robot", "dingtalk"])
def say(request: pytest.FixtureRequest, services: Services, clock: FakeClock) -> Iterator[Say]:
    """Send a message as a person over one inbound endpoint; return the bot's answer."""
    ids = count(1)
    with TestClient(create_app(services)) as client:

        def wecom_app(person: str, text: str) -> str:
            query, body = wecom_app_request(WECOM[person], text, f"a{next(ids)}", clock.now())
            response = client.post("/wecom/callback", params=query, content=body)
            assert response.status_code == 200
            return open_app_reply(response.content)

        def wecom_robot(person: str, text: str) -> str:
            query, body = wecom_robot_request(WECOM[person], text, f"r{next(ids)}", clock.now())
            response = client.post("/wecom/robot", params=query, content=body)
            assert response.status_code == 200
            return open_robot_reply(response.content)

        def dingtalk(person: str, text: str) -> str:
            msg_id = f"d{next(ids)}"
            headers, body = dingtalk_request(DING[person], text, msg_id, clock.now(), "")
            response = client.post("/dingtalk/callback", headers=headers, content=body)
            assert response.status_code == 200
            with transaction(services.factory) as session:
                row = session.scalars(
                    select(OutboxRow).where(OutboxRow.dedupe_key == f"reply:dingtalk:{msg_id}")
                ).one()
            assert row.target == f"http://127.0.0.1:9/session/{msg_id}"
            return str(row.payload["text"])

        yield {"wecom_app": wecom_app, "wecom_robot": wecom_robot, "dingtalk": dingtalk}[
            request.param
        ]


def test_scripted_venue_ends_in_the_right_ranking_and_csv(
    say: Say, services: Services, clock: FakeClock
) -> None:
    for judge, text, expected in SCRIPT:
        answer = say(judge, text)
        assert answer.startswith(expected), (text, answer)
        clock.advance(30)

    # The refused 27 recorded nothing; the correction kept the original in the audit trail.
    with transaction(services.factory) as session:
        assert len(session.scalars(select(ScoreSheet)).all()) == 15
        revisions = session.scalars(select(ScoreRevision).order_by(ScoreRevision.id)).all()
        assert [r.action for r in revisions].count("correct") == 1
        assert len(revisions) == 16
        text, _ = export_venue(session, "ruiquan", fmt="csv", out=None, tz=services.settings.tz)
    assert text == EXPECTED_CSV

    published = say("李学斌", "公布")
    assert published.startswith(
        "已公布并锁定瑞泉中学会场成绩，已推送至：领导小组群、瑞泉中学会场群。"
    )
    ranking = say("李学斌", "排名")
    assert ranking.splitlines()[1:] == [
        "第1名 杜桥中学 88.7（申毅 91 · 梁飞 88 · 张伟利 87）",
        "第2名 瑞泉中学共同体 87.7（申毅 86 · 梁飞 90 · 张伟利 87）",
        "第2名 尚德中学 87.7（申毅 88 · 梁飞 89 · 张伟利 86）",
        "第4名 韩马初中共同体 81.0（申毅 81 · 梁飞 80 · 张伟利 82）",
        "第5名 育红初中共同体 79.2（申毅 78 · 梁飞 79.5 · 张伟利 80）",
    ]
    assert say("申毅", "更正 瑞泉中学 20 22 17 20 9").startswith("瑞泉中学会场成绩已于")
    with transaction(services.factory) as session:
        venue = session.scalars(select(Venue).where(Venue.key == "ruiquan")).one()
        assert venue.published_at is not None
        assert venue.completed_at is not None
        pushes = {
            row.dedupe_key: row
            for row in session.scalars(select(OutboxRow).where(OutboxRow.target_kind == "group"))
        }
    texts = {"complete:ruiquan", "publish:ruiquan:leaders", "publish:ruiquan:ruiquan"}
    pictures = {"picture:ruiquan:leaders", "picture:ruiquan:ruiquan"}  # both WeCom groups
    assert set(pushes) == texts | pictures
    assert "第2名 尚德中学 87.7" in pushes["publish:ruiquan:leaders"].payload["text"]
