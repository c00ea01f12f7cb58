"""导出 in chat: who may export, where the file goes, and the push of the file to the group."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.dispatcher import Outcome
from handlers.messages import InboundMessage, message_of
from storage.db import transaction
from storage.models import OutboxRow
from tests.support.campaign import campaign

_ids = count(1)

WECOM = {
    "李学斌": "lixuebin",
    "申毅": "shenyi",
    "梁飞": "liangfei",
    "张伟利": "zhangweili",
    "郭锋": "guofeng",
    "王局长": "wangjz",
    "教育股": "jiaoyugu",
}
STAMP = "20220213-0830"  # VENUE_MORNING in Shanghai


def send(services: Services, person: str, text: str, chat_id: str = "") -> Outcome:
    return services.dispatcher.process(
        InboundMessage(
            platform="wecom",
            channel="wecom_robot" if chat_id else "wecom_app",
            message_id=f"export-{next(_ids)}",
            sender_id=WECOM[person],
            text=text,
            chat_type="group" if chat_id else "private",
            chat_id=chat_id,
        )
    )


def pushes(services: Services) -> list[OutboxRow]:
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        session.expunge_all()
        return list(rows)


def export_dir(services: Services) -> Path:
    return Path(services.settings.server.data_dir) / "exports"


def test_a_private_export_writes_an_xlsx_and_sends_it_to_the_asker(
    sqlite_services: Services,
) -> None:
    send(sqlite_services, "申毅", "评分 瑞泉中学 18 22 17 20 9")
    send(sqlite_services, "梁飞", "评分 瑞泉中学 90")

    outcome = send(sqlite_services, "李学斌", "导出")

    path = export_dir(sqlite_services) / f"ruiquan-成绩汇总表-{STAMP}.xlsx"
    assert outcome.status == "ok", outcome.reply.text
    assert outcome.reply.text == (
        "已导出瑞泉中学会场成绩汇总表（Excel，5 位选手，评分未完成（已评 2/15，未评处留空））：\n"
        f"{path.name}\n"
        "文件将私发给您。"
    )
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["成绩汇总表", "评分明细", "修改记录"]
    summary = workbook["成绩汇总表"]
    assert summary.cell(row=3, column=1).value == "瑞泉中学共同体"
    assert summary.cell(row=3, column=2).value == 86

    [row] = pushes(sqlite_services)
    message = message_of(row.payload)
    assert (row.target_kind, row.target, row.platform) == ("person", "lixuebin", "wecom")
    assert row.dedupe_key.startswith(f"export:ruiquan:{STAMP}:person:lixuebin:")
    assert row.status == "pending"
    assert message.file_path == str(path)
    assert message.text == "瑞泉中学会场成绩汇总表（评分尚未全部完成）"


def test_the_same_sheet_twice_in_a_minute_is_sent_once(sqlite_services: Services) -> None:
    first = send(sqlite_services, "李学斌", "导出 瑞泉中学会场 csv")
    again = send(sqlite_services, "李学斌", "导出 瑞泉中学会场 csv")

    path = export_dir(sqlite_services) / f"ruiquan-成绩汇总表-{STAMP}.csv"
    assert path.name in first.reply.text
    assert str(path.parent) not in first.reply.text
    assert first.reply.text.endswith("文件将私发给您。")
    assert again.reply.text.endswith("不再重复发送（文件已更新）。")
    assert len(pushes(sqlite_services)) == 1


def test_another_format_or_a_changed_sheet_is_sent_again(sqlite_services: Services) -> None:
    send(sqlite_services, "李学斌", "导出 瑞泉中学会场")
    as_csv = send(sqlite_services, "李学斌", "导出 瑞泉中学会场 csv")
    send(sqlite_services, "申毅", "评分 瑞泉中学 86")
    changed = send(sqlite_services, "李学斌", "导出 瑞泉中学会场 csv")

    assert as_csv.reply.text.endswith("文件将私发给您。")
    assert changed.reply.text.endswith("文件将私发给您。")
    files = [Path(message_of(row.payload).file_path).suffix for row in pushes(sqlite_services)]
    assert files == [".xlsx", ".csv", ".csv"]


def _score_all(services: Services) -> None:
    for judge, total in (("申毅", 86), ("梁飞", 88), ("张伟利", 87)):
        batch = "\n".join(f"{n}号 {total - n}" for n in range(1, 6))
        send(services, judge, f"评分\n{batch}")


def test_an_export_in_the_group_before_publishing_is_sent_privately(
    sqlite_services: Services,
) -> None:
    _score_all(sqlite_services)
    before = len(pushes(sqlite_services))  # the completion notice

    outcome = send(sqlite_services, "李学斌", "导出", "wrRuiquan")

    assert outcome.reply.text.endswith("成绩尚未公布，文件不发到群里，将私发给您。")
    [row] = pushes(sqlite_services)[before:]
    assert (row.target_kind, row.target) == ("person", "lixuebin")


def test_an_export_in_the_group_after_publishing_goes_to_that_group(
    sqlite_services: Services,
) -> None:
    _score_all(sqlite_services)
    send(sqlite_services, "李学斌", "公布")
    before = len(pushes(sqlite_services))

    outcome = send(sqlite_services, "李学斌", "导出", "wrRuiquan")

    assert outcome.reply.text.endswith("文件将推送至瑞泉中学会场群。")
    [row] = pushes(sqlite_services)[before:]
    assert (row.target_kind, row.target) == ("group", "ruiquan")
    assert message_of(row.payload).file_path.endswith(".xlsx")


def test_a_complete_venue_says_so(sqlite_services: Services, clock: FakeClock) -> None:
    for judge, total in (("申毅", 86), ("梁飞", 88), ("张伟利", 87)):
        batch = "\n".join(f"{n}号 {total - n}" for n in range(1, 6))
        send(sqlite_services, judge, f"评分\n{batch}")
    clock.advance(60)

    outcome = send(sqlite_services, "王局长", "导出 瑞泉中学")

    assert "评分已全部完成（15/15）" in outcome.reply.text
    row = pushes(sqlite_services)[-1]
    assert message_of(row.payload).text == "瑞泉中学会场成绩汇总表"
    assert (row.target_kind, row.target) == ("person", "wangjz")
    assert row.dedupe_key.startswith("export:ruiquan:20220213-0831:")


@pytest.mark.parametrize(
    ("person", "text", "chat_id", "expected"),
    [
        pytest.param(
            "申毅",
            "导出",
            "",
            "“导出”只有会场主持人、领导和组织者可以使用，您不在其中。"
            "发送“进度”查看您还有哪些选手未评。",
            id="judge-privately",
        ),
        pytest.param(
            "申毅",
            "导出",
            "wrRuiquan",
            "瑞泉中学会场的成绩汇总表只有本会场主持人（李学斌）、领导和组织者可以导出；"
            "成绩公布后会推送到会场群。发送“进度”查看您还有哪些选手未评。",
            id="judge-in-venue-group",
        ),
        pytest.param(
            "郭锋",
            "导出 瑞泉中学会场",
            "",
            "瑞泉中学会场的成绩汇总表只有本会场主持人（李学斌）、领导和组织者可以导出；"
            "成绩公布后会推送到会场群。发送“帮助”查看您可以用的命令。",
            id="other-venue-host",
        ),
        pytest.param(
            "李学斌",
            "导出 城关中学",
            "",
            "没有找到会场“城关中学”。请写会场名或前几个字，例如：导出 瑞泉中学会场"
            "（可选：瑞泉中学会场、育红初中会场）",
            id="unknown-venue",
        ),
        pytest.param(
            "教育股",
            "导出",
            "",
            "请写明会场，例如：导出 瑞泉中学会场（可选：瑞泉中学会场、育红初中会场）",
            id="several-venues",
        ),
    ],
)
def test_refusals_write_nothing(
    sqlite_services: Services, person: str, text: str, chat_id: str, expected: str
) -> None:
    outcome = send(sqlite_services, person, text, chat_id)

    assert (outcome.status, outcome.reply.text) == ("refused", expected)
    assert pushes(sqlite_services) == []
    assert not export_dir(sqlite_services).exists()


def test_an_organizer_names_the_venue_and_gets_the_file(sqlite_services: Services) -> None:
    outcome = send(sqlite_services, "教育股", "导出 育红初中 excel")

    assert outcome.reply.text.endswith("文件将私发给您。")
    [row] = pushes(sqlite_services)
    assert (row.platform, row.target_kind, row.target) == ("wecom", "person", "jiaoyugu")
    assert load_workbook(message_of(row.payload).file_path)["成绩汇总表"].max_row >= 6


def test_a_ranking_asked_in_the_group_before_publishing_is_sent_privately(
    sqlite_services: Services,
) -> None:
    _score_all(sqlite_services)
    before = len(pushes(sqlite_services))

    outcome = send(sqlite_services, "李学斌", "排名", "wrRuiquan")

    assert outcome.reply.text == "瑞泉中学会场成绩尚未公布，排名不在群里显示，已私发给您。"
    [row] = pushes(sqlite_services)[before:]
    assert (row.target_kind, row.target) == ("person", "lixuebin")
    assert "第1名" in message_of(row.payload).text
    send(sqlite_services, "李学斌", "公布")
    assert send(sqlite_services, "李学斌", "排名", "wrRuiquan").reply.text.startswith(
        "瑞泉中学会场"
    )


@pytest.mark.parametrize(
    ("person", "text", "expected"),
    [
        pytest.param(
            "申毅",
            "排名",
            "“排名”只有会场主持人、领导和组织者可以使用，您不在其中。"
            "发送“进度”查看您还有哪些选手未评。",
            id="judge-ranking",
        ),
        pytest.param(
            "王局长",
            "公布",
            "“公布”只有会场主持人和组织者可以使用，您不在其中。发送“帮助”查看您可以用的命令。",
            id="leader-publish",
        ),
        pytest.param(
            "王局长",
            "公布 瑞泉中学会场",
            "只有瑞泉中学会场的主持人（李学斌）或组织者可以公布成绩。"
            "请联系李学斌发送：公布 瑞泉中学会场",
            id="leader-publish-named",
        ),
    ],
)
def test_refusals_say_who_may_and_what_to_send_instead(
    sqlite_services: Services, person: str, text: str, expected: str
) -> None:
    outcome = send(sqlite_services, person, text)

    assert (outcome.status, outcome.reply.text) == ("refused", expected)


def test_an_organizer_without_venues_is_told_there_are_none(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data = campaign(sqlite_url, venues=[])
    data["server"] = {"data_dir": str(tmp_path / "data")}
    services = build_services(settings_from_mapping(data), clock=clock)
    try:
        replies = [send(services, "教育股", text).reply.text for text in ("导出", "排名", "公布")]
    finally:
        services.engine.dispose()
    fix = "会场在配置文件的 [[venues]] 中设置：请改好后运行 edubot check-config 检查，保存后服务会自动载入。"
    assert replies == [
        f"本活动还没有会场，暂时不能使用“导出”。{fix}",
        f"本活动还没有会场，暂时不能使用“排名”。{fix}",
        f"本活动还没有会场，暂时不能使用“公布”。{fix}",
    ]


@pytest.mark.parametrize("ref", ["瑞泉", "瑞泉中学", "瑞泉中学会场", "育红"])
def test_a_venue_is_named_by_a_unique_prefix(sqlite_services: Services, ref: str) -> None:
    outcome = send(sqlite_services, "王局长", f"排名 {ref}")

    assert outcome.status == "ok", outcome.reply.text
    assert outcome.reply.text.startswith(f"{ref[:2]}")


def test_a_prefix_of_several_venues_is_refused_with_the_choices(
    sqlite_services: Services,
) -> None:
    outcome = send(sqlite_services, "王局长", "排名 学校")

    assert (outcome.status, outcome.reply.text) == (
        "refused",
        "没有找到会场“学校”。请写会场名或前几个字，例如：排名 瑞泉中学会场"
        "（可选：瑞泉中学会场、育红初中会场）",
    )
