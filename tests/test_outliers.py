"""A judge far from the others is warned, and the venue cannot be published until that judge
confirms (确认) or corrects the score (PRODUCT §4)."""

from __future__ import annotations

from itertools import count

from sqlalchemy import select

from bot.app import Services
from handlers.messages import InboundMessage, message_of
from storage.db import transaction
from storage.models import OutboxRow

IDS = count()


def say(services: Services, user: str, text: str) -> str:
    message = InboundMessage("wecom", "wecom_app", f"o{next(IDS)}", user, text, "private")
    return services.dispatcher.process(message).reply.text


def outlier_pushes(services: Services) -> list[tuple[str, str]]:
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [
            (row.target, message_of(row.payload).text)
            for row in rows
            if row.dedupe_key.startswith("outlier:")
        ]


def test_an_outlying_total_is_flagged_and_blocks_publishing_until_confirmed(
    sqlite_services: Services,
) -> None:
    others = "\n".join(f"{n}号 85" for n in range(2, 6))
    assert "⚠" not in say(sqlite_services, "shenyi", f"评分\n1号 86\n{others}")
    assert "⚠" not in say(sqlite_services, "liangfei", f"评分\n1号 90\n{others}")
    # The median of all three totals (86, 90, 60) is 86: the 60 is 26 away, the 90 only 4.
    reply = say(sqlite_services, "zhangweili", f"评分\n1号 60\n{others}")
    assert (
        "⚠ 您给 瑞泉中学共同体 的 60 分与各评委总分的中位数（86 分）相差超过 15 分。"
        "请核对；如无误请发送：确认 瑞泉中学共同体"
    ) in reply
    assert reply.count("⚠") == 1  # only the outlier, and only for that contestant
    assert outlier_pushes(sqlite_services) == []  # nobody else became an outlier

    refused = say(sqlite_services, "lixuebin", "公布")
    assert refused == (
        "以下评分与其他评委相差过大，需评委本人发送“确认 选手名”或更正后才能公布："
        "张伟利 → 瑞泉中学共同体 60 分"
    )
    assert say(sqlite_services, "zhangweili", "确认 瑞泉中学共同体") == (
        "已确认 张伟利 → 瑞泉中学共同体：60 分"
    )
    assert say(sqlite_services, "lixuebin", "公布").startswith("已公布并锁定瑞泉中学会场成绩")


def test_a_judge_made_an_outlier_by_a_later_score_is_told_at_once(
    sqlite_services: Services,
) -> None:
    say(sqlite_services, "shenyi", "评分 1号 86")
    # Two totals: the median is their mean (73); each is 13 from it, inside the threshold.
    assert "⚠" not in say(sqlite_services, "liangfei", "评分 1号 60")
    assert outlier_pushes(sqlite_services) == []

    # A third judge's 90 moves the median to 86: 梁飞's 60 is now 26 away.
    assert "⚠" not in say(sqlite_services, "zhangweili", "评分 1号 90")

    [(target, text)] = outlier_pushes(sqlite_services)
    assert target == "liangfei"
    assert text == (
        "⚠ 瑞泉中学会场：您给 瑞泉中学共同体 的 60 分与各评委总分的中位数（86 分）"
        "相差超过 15 分。请核对；如无误请发送：确认 瑞泉中学共同体"
    )
    # What the push asks for works.
    assert say(sqlite_services, "liangfei", "确认 瑞泉中学共同体").startswith("已确认")


def test_a_correction_back_in_range_clears_the_flag(sqlite_services: Services) -> None:
    say(sqlite_services, "shenyi", "评分 1号 86")
    say(sqlite_services, "liangfei", "评分 1号 90")
    assert "⚠" in say(sqlite_services, "zhangweili", "评分 1号 60")
    assert "⚠" not in say(sqlite_services, "zhangweili", "更正 1号 87")
