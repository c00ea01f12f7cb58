"""成绩汇总表 export: CSV and the three-sheet workbook, from scores recorded through the
dispatcher exactly as judges send them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.app import Services
from bot.clock import FakeClock
from handlers.errors import BotError
from handlers.results import standings
from handlers.rubric import ItemSpec, RubricSpec, SheetScores
from handlers.score_sheet import (
    chinese_number,
    csv_text,
    decimals_label,
    export_venue,
    mean_format,
    write_xlsx,
)
from handlers.standings import VenueTable, ranking_text, venue_table
from storage.people import venue_by_key
from storage.scores import audit_trail
from tests.support.wire import wecom_private

TZ = ZoneInfo("Asia/Shanghai")

# The 瑞泉中学 venue (judges 申毅 梁飞 张伟利), one message a minute from 08:31 local.
# Rubric 附件3: 工作目标 20, 任务措施 25, 工作阶段进展 20, 工作预期成效 25, 个人表现 10.
SCRIPT: list[tuple[str, str, str]] = [
    # (sender, text, how the bot must answer)
    ("shenyi", "评分 瑞泉中学共同体 18 22 17 20 9", "已记录"),  # 86, corrected below
    ("liangfei", "评分 瑞泉中学共同体 18 23 18 22 9", "已记录"),  # 90
    ("zhangweili", "评分 瑞泉中学共同体 86", "已记录"),  # a bare total
    ("shenyi", "评分 杜桥中学 17 22 17 20 9", "已记录"),  # 85
    ("liangfei", "评分 杜桥中学 18 22 17 20 9", "已记录"),  # 86
    ("zhangweili", "评分 杜桥中学 18 21.4 17 20 9", "已记录"),  # 85.4
    ("shenyi", "评分 尚德中学 18 22 17 20 9", "已记录"),  # 86
    ("liangfei", "评分 尚德中学 17 22 17 20 9", "已记录"),  # 85
    ("zhangweili", "评分 尚德中学 18 21.5 17 20 9", "已记录"),  # 85.5, a half point
    ("shenyi", "评分 韩马初中共同体 17 22 17 19 9", "已记录"),  # 84
    ("liangfei", "评分 韩马初中共同体 17 22 17.5 19 9", "已记录"),  # 84.5; 张伟利 not yet
    ("shenyi", "更正 瑞泉中学共同体 19 22 17 20 9", "已更正"),  # 86 → 87
    ("zhangweili", "确认 瑞泉中学共同体", "已确认"),
    # 育红初中共同体: nobody has scored yet.
]

# Means by hand (mean of the judges who scored, rounded half up to one decimal):
#   瑞泉中学共同体 (87 + 90 + 86) / 3 = 263 / 3   = 87.666… → 87.7   rank 1
#   杜桥中学       (85 + 86 + 85.4) / 3 = 256.4 / 3 = 85.466… → 85.5   rank 2
#   尚德中学       (86 + 85 + 85.5) / 3 = 256.5 / 3 = 85.5     → 85.5   rank 2 (tie)
#   韩马初中共同体 (84 + 84.5) / 2 = 84.25 → 84.3 half up (float round gives 84.2) rank 4
#   育红初中共同体 nobody scored: blank mean, blank rank
# 杜桥 and 尚德 tie on the rounded 85.5 although 尚德's unrounded mean is higher: equal
# ranks stay in venue order, and the next rank skips to 4.
EXPECTED_CSV = (
    "学校管理论坛·瑞泉中学会场成绩汇总表\n"
    "姓名,评委一得分（申毅）,评委二得分（梁飞）,评委三得分（张伟利）,平均成绩（一位小数）,排名\n"
    "瑞泉中学共同体,87,90,86,87.7,1\n"
    "杜桥中学,85,86,85.4,85.5,2\n"
    "尚德中学,86,85,85.5,85.5,2\n"
    "韩马初中共同体,84,84.5,,84.3,4\n"
    "育红初中共同体,,,,,\n"
)


@pytest.fixture
def scored(sqlite_services: Services, clock: FakeClock) -> Services:
    """The venue after SCRIPT, every line answered as expected."""
    for number, (sender, text, answer) in enumerate(SCRIPT, start=1):
        clock.advance(60)
        outcome = sqlite_services.dispatcher.process(
            wecom_private(sender, text, f"m{number:02d}", sent_at=clock.now())
        )
        assert outcome.reply.text.startswith(answer), (text, outcome.reply.text)
    return sqlite_services


def _table(services: Services) -> VenueTable:
    with services.factory() as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        return venue_table(session, venue)


def _xlsx(services: Services, path: Path, now: datetime) -> Path:
    with services.factory() as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        table = venue_table(session, venue)
        audit = audit_trail(session, venue.id)
    return write_xlsx(table, audit, path, tz=TZ, now=now)


def _rows(sheet: Any, first: int, last: int | None = None) -> list[tuple[object, ...]]:
    return [tuple(r) for r in sheet.iter_rows(min_row=first, max_row=last, values_only=True)]


# ── CSV ──────────────────────────────────────────────────────────────────────────────────


def test_csv_is_the_hand_computed_table(scored: Services) -> None:
    assert csv_text(_table(scored)) == EXPECTED_CSV


def test_csv_of_an_unscored_venue_lists_everyone_blank(sqlite_services: Services) -> None:
    assert csv_text(_table(sqlite_services)) == (
        "学校管理论坛·瑞泉中学会场成绩汇总表\n"
        "姓名,评委一得分（申毅）,评委二得分（梁飞）,评委三得分（张伟利）,平均成绩（一位小数）,排名\n"
        "瑞泉中学共同体,,,,,\n"
        "杜桥中学,,,,,\n"
        "尚德中学,,,,,\n"
        "韩马初中共同体,,,,,\n"
        "育红初中共同体,,,,,\n"
    )


# ── xlsx ─────────────────────────────────────────────────────────────────────────────────


def test_workbook_has_the_three_sheets(scored: Services, tmp_path: Path, clock: FakeClock) -> None:
    path = _xlsx(scored, tmp_path / "out" / "ruiquan.xlsx", clock.now())
    assert path == tmp_path / "out" / "ruiquan.xlsx"
    assert load_workbook(path).sheetnames == ["成绩汇总表", "评分明细", "修改记录"]


def test_summary_sheet_is_attachment_4(scored: Services, tmp_path: Path, clock: FakeClock) -> None:
    sheet = load_workbook(_xlsx(scored, tmp_path / "r.xlsx", clock.now()))["成绩汇总表"]

    assert sheet["A1"].value == "学校管理论坛·瑞泉中学会场成绩汇总表"
    assert sheet["A1"].font.b
    assert sheet["A1"].font.sz == 16
    assert sheet["A1"].alignment.horizontal == "center"
    assert "A1:F1" in {str(r) for r in sheet.merged_cells.ranges}

    assert _rows(sheet, 2, 2) == [
        (
            "姓名",
            "评委一得分（申毅）",
            "评委二得分（梁飞）",
            "评委三得分（张伟利）",
            "平均成绩（一位小数）",
            "排名",
        )
    ]
    assert _rows(sheet, 3, 7) == [
        ("瑞泉中学共同体", 87, 90, 86, 87.7, 1),
        ("杜桥中学", 85, 86, 85.4, 85.5, 2),
        ("尚德中学", 86, 85, 85.5, 85.5, 2),
        ("韩马初中共同体", 84, 84.5, None, 84.3, 4),
        ("育红初中共同体", None, None, None, None, None),
    ]
    # The stored value is the published (rounded) one, not 84.25.
    assert sheet["E6"].value == 84.3
    assert isinstance(sheet["F6"].value, int)
    for row in range(3, 8):
        assert sheet[f"E{row}"].number_format == "0.0"
        assert sheet[f"B{row}"].number_format == "General"  # 86 → 86, 85.5 → 85.5

    for row in sheet.iter_rows(min_row=2, max_row=7):
        for cell in row:
            assert cell.font.name == "宋体"
            assert cell.font.sz == 12
            assert cell.border.left.style == cell.border.bottom.style == "thin"
    assert sheet.column_dimensions["A"].width >= 18  # 育红初中共同体 is 14 columns wide
    assert sheet.column_dimensions["D"].width >= 20

    assert sheet["A9"].value == "评委签字："
    assert sheet["E9"].value == "制表时间：2022-02-13 08:43"
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.page_setup.fitToWidth == 1
    assert sheet.sheet_properties.pageSetUpPr.fitToPage


def test_detail_sheet_is_attachment_3_per_judge(
    scored: Services, tmp_path: Path, clock: FakeClock
) -> None:
    sheet = load_workbook(_xlsx(scored, tmp_path / "r.xlsx", clock.now()))["评分明细"]
    assert _rows(sheet, 1) == [
        (
            "评委",
            "选手",
            "工作目标（20）",
            "任务措施（25）",
            "工作阶段进展（20）",
            "工作预期成效（25）",
            "个人表现（10）",
            "总分",
        ),
        # judge order, then contestant order; only the sheets that exist
        ("申毅", "瑞泉中学共同体", 19, 22, 17, 20, 9, 87),
        ("申毅", "杜桥中学", 17, 22, 17, 20, 9, 85),
        ("申毅", "尚德中学", 18, 22, 17, 20, 9, 86),
        ("申毅", "韩马初中共同体", 17, 22, 17, 19, 9, 84),
        ("梁飞", "瑞泉中学共同体", 18, 23, 18, 22, 9, 90),
        ("梁飞", "杜桥中学", 18, 22, 17, 20, 9, 86),
        ("梁飞", "尚德中学", 17, 22, 17, 20, 9, 85),
        ("梁飞", "韩马初中共同体", 17, 22, 17.5, 19, 9, 84.5),
        ("张伟利", "瑞泉中学共同体", None, None, None, None, None, 86),  # bare total
        ("张伟利", "杜桥中学", 18, 21.4, 17, 20, 9, 85.4),
        ("张伟利", "尚德中学", 18, 21.5, 17, 20, 9, 85.5),
    ]


def test_audit_sheet_keeps_every_revision(
    scored: Services, tmp_path: Path, clock: FakeClock
) -> None:
    sheet = load_workbook(_xlsx(scored, tmp_path / "r.xlsx", clock.now()))["修改记录"]

    def at(minute: int) -> str:
        return f"2022-02-13 08:{minute}:00"  # local time

    assert _rows(sheet, 1) == [
        ("时间", "评委", "选手", "操作", "版本", "总分", "各项", "来源"),
        (at(31), "申毅", "瑞泉中学共同体", "评分", 1, 86, "18 22 17 20 9", "私聊（企业微信）"),
        (at(32), "梁飞", "瑞泉中学共同体", "评分", 1, 90, "18 23 18 22 9", "私聊（企业微信）"),
        (at(33), "张伟利", "瑞泉中学共同体", "评分", 1, 86, None, "私聊（企业微信）"),
        (at(34), "申毅", "杜桥中学", "评分", 1, 85, "17 22 17 20 9", "私聊（企业微信）"),
        (at(35), "梁飞", "杜桥中学", "评分", 1, 86, "18 22 17 20 9", "私聊（企业微信）"),
        (at(36), "张伟利", "杜桥中学", "评分", 1, 85.4, "18 21.4 17 20 9", "私聊（企业微信）"),
        (at(37), "申毅", "尚德中学", "评分", 1, 86, "18 22 17 20 9", "私聊（企业微信）"),
        (at(38), "梁飞", "尚德中学", "评分", 1, 85, "17 22 17 20 9", "私聊（企业微信）"),
        (at(39), "张伟利", "尚德中学", "评分", 1, 85.5, "18 21.5 17 20 9", "私聊（企业微信）"),
        (at(40), "申毅", "韩马初中共同体", "评分", 1, 84, "17 22 17 19 9", "私聊（企业微信）"),
        (at(41), "梁飞", "韩马初中共同体", "评分", 1, 84.5, "17 22 17.5 19 9", "私聊（企业微信）"),
        # the correction is version 2; version 1 (86) stays above
        (at(42), "申毅", "瑞泉中学共同体", "更正", 2, 87, "19 22 17 20 9", "私聊（企业微信）"),
        (at(43), "张伟利", "瑞泉中学共同体", "确认", 1, 86, None, "私聊（企业微信）"),
    ]


# ── Pure: other precisions ───────────────────────────────────────────────────────────────


def _hand_table(decimals: int) -> VenueTable:
    """Two judges, two contestants; 84 and 84.5 average 84.25, 80 and 81 average 80.5."""
    rubric = RubricSpec("r", "评分表", (ItemSpec("总体", Decimal(100)),), decimals=decimals)
    judges = ("甲", "乙")
    contestants = ("张三", "李四")
    sheets = {
        ("张三", "甲"): SheetScores(Decimal(84), (Decimal(84),)),
        ("张三", "乙"): SheetScores(Decimal("84.5"), (Decimal("84.5"),)),
        ("李四", "甲"): SheetScores(Decimal(80), (Decimal(80),)),
        ("李四", "乙"): SheetScores(Decimal(81), (Decimal(81),)),
    }
    rows = tuple(standings(rubric, contestants, judges, sheets))
    return VenueTable(
        "k", "论坛", "某地会场", rubric, judges, contestants, sheets, rows, frozenset()
    )


@pytest.mark.parametrize(
    ("decimals", "header", "number_format", "means", "csv_means"),
    [
        pytest.param(0, "平均成绩（整数）", "0", (84, 81), ("84", "81"), id="integer"),
        pytest.param(1, "平均成绩（一位小数）", "0.0", (84.3, 80.5), ("84.3", "80.5"), id="one"),
        pytest.param(
            2, "平均成绩（两位小数）", "0.00", (84.25, 80.5), ("84.25", "80.50"), id="two"
        ),
    ],
)
def test_mean_follows_the_rubric_decimals(
    tmp_path: Path,
    decimals: int,
    header: str,
    number_format: str,
    means: tuple[float, float],
    csv_means: tuple[str, str],
) -> None:
    table = _hand_table(decimals)
    assert csv_text(table).splitlines()[2:] == [
        f"张三,84,84.5,{csv_means[0]},1",
        f"李四,80,81,{csv_means[1]},2",
    ]
    now = datetime(2022, 2, 13, 4, 0, tzinfo=ZoneInfo("UTC"))
    sheet = load_workbook(write_xlsx(table, [], tmp_path / "t.xlsx", tz=TZ, now=now))["成绩汇总表"]
    assert sheet["A1"].value == "论坛·某地会场成绩汇总表"
    assert sheet["D2"].value == header
    assert (sheet["D3"].value, sheet["D4"].value) == means
    assert sheet["D3"].number_format == sheet["D4"].number_format == number_format
    assert sheet["A6"].value == "评委签字："
    assert sheet["D6"].value == "制表时间：2022-02-13 12:00"


def test_title_can_be_given(tmp_path: Path) -> None:
    now = datetime(2022, 2, 13, 4, 0, tzinfo=ZoneInfo("UTC"))
    path = write_xlsx(_hand_table(1), [], tmp_path / "t.xlsx", title="自定义标题", tz=TZ, now=now)
    assert load_workbook(path)["成绩汇总表"]["A1"].value == "自定义标题"


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "一"), (3, "三"), (10, "十"), (12, "十二"), (20, "二十"), (23, "二十三"), (100, "100")],
)
def test_chinese_number(n: int, text: str) -> None:
    assert chinese_number(n) == text


def test_labels_and_formats_per_precision() -> None:
    assert [decimals_label(d) for d in range(4)] == ["整数", "一位小数", "两位小数", "三位小数"]
    assert [mean_format(d) for d in range(4)] == ["0", "0.0", "0.00", "0.000"]


# ── export_venue ─────────────────────────────────────────────────────────────────────────


def test_export_csv_returns_the_text(scored: Services) -> None:
    with scored.factory() as session:
        assert export_venue(session, "ruiquan", fmt="csv", out=None, tz=TZ) == (
            EXPECTED_CSV,
            None,
        )


@pytest.mark.parametrize("name", ["瑞泉中学会场", "瑞泉中学", "瑞泉", "ruiq"])
def test_export_accepts_the_venue_name_or_a_unique_prefix(scored: Services, name: str) -> None:
    with scored.factory() as session:
        assert export_venue(session, name, fmt="csv", out=None, tz=TZ)[0] == EXPECTED_CSV


def test_export_csv_to_a_file_has_a_bom_for_excel(scored: Services, tmp_path: Path) -> None:
    out = tmp_path / "ruiquan.csv"
    with scored.factory() as session:
        text, path = export_venue(session, "ruiquan", fmt="csv", out=out, tz=TZ)
    assert (text, path) == (EXPECTED_CSV, out)
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data[3:].decode("utf-8") == EXPECTED_CSV
    assert b"\r\n" not in data


def test_export_xlsx_defaults_to_the_working_directory(
    scored: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.chdir(tmp_path)
    with scored.factory() as session:
        text, path = export_venue(session, "ruiquan", fmt="xlsx", out=None, tz=TZ, now=clock.now())
    assert (text, path) == ("", Path("ruiquan-成绩汇总表.xlsx"))
    assert path is not None
    sheet = load_workbook(tmp_path / path)["成绩汇总表"]
    assert sheet["E6"].value == 84.3


def test_export_xlsx_to_a_given_path(scored: Services, tmp_path: Path) -> None:
    out = tmp_path / "x" / "汇总.xlsx"
    with scored.factory() as session:
        assert export_venue(session, "ruiquan", fmt="xlsx", out=out, tz=TZ) == ("", out)
    assert len(load_workbook(out)["修改记录"]["A"]) == 1 + len(SCRIPT)


def test_unknown_venue_names_the_known_ones(sqlite_services: Services) -> None:
    with (
        sqlite_services.factory() as session,
        pytest.raises(BotError, match="没有找到会场“nowhere”。可用：ruiquan（瑞泉中学会场）"),
    ):
        export_venue(session, "nowhere", fmt="csv", out=None, tz=TZ)


def test_unknown_format_is_refused(sqlite_services: Services) -> None:
    with (
        sqlite_services.factory() as session,
        pytest.raises(BotError, match="不支持的导出格式“pdf”"),
    ):
        export_venue(session, "ruiquan", fmt="pdf", out=None, tz=TZ)


def _trimmed_table() -> VenueTable:
    """Five judges, trimmed mean: 甲's 99 and 60 are left out, (80 + 85 + 90) / 3 = 85."""
    rubric = RubricSpec(
        "r",
        "评分表",
        (ItemSpec("总体", Decimal(100)),),
        aggregate="trimmed_mean",
        trim_min_judges=5,
    )
    judges = ("一", "二", "三", "四", "五")
    sheets = {
        ("甲", j): SheetScores(Decimal(t), None)
        for j, t in zip(judges, ("99", "80", "85", "90", "60"), strict=True)
    }
    rows = tuple(standings(rubric, ("甲",), judges, sheets))
    return VenueTable("k", "论坛", "某地会场", rubric, judges, ("甲",), sheets, rows, frozenset())


def test_a_trimmed_mean_names_the_scores_it_left_out(tmp_path: Path) -> None:
    table = _trimmed_table()
    note = "去掉最低 五 60、最高 一 99"

    assert ranking_text(table).splitlines()[1] == (
        f"第1名 甲 85.0（一 99 · 二 80 · 三 85 · 四 90 · 五 60；{note}）"
    )
    assert csv_text(table).splitlines() == [
        "论坛·某地会场成绩汇总表",
        "姓名,评委一得分（一）,评委二得分（二）,评委三得分（三）,评委四得分（四）,评委五得分（五）,"
        "平均成绩（一位小数）,排名,备注",
        f"甲,99,80,85,90,60,85.0,1,{note}",
    ]
    now = datetime(2022, 2, 13, 4, 0, tzinfo=ZoneInfo("UTC"))
    sheet = load_workbook(write_xlsx(table, [], tmp_path / "t.xlsx", tz=TZ, now=now))["成绩汇总表"]
    assert [c.value for c in sheet[3]] == ["甲", 99, 80, 85, 90, 60, 85.0, 1, note]
    assert sheet["G3"].number_format == "0.0"
    assert sheet["I2"].value == "备注"


def test_a_plain_mean_has_no_note() -> None:
    assert "去掉" not in ranking_text(_hand_table(1))
    assert csv_text(_hand_table(1)).splitlines()[1].endswith("平均成绩（一位小数）,排名")


def test_the_audit_names_the_group_a_score_came_from(sqlite_services: Services) -> None:
    private = wecom_private("shenyi", "评分 1号 86", "g1")
    in_group = replace(private, channel="wecom_robot", chat_type="group", chat_id="wrRuiquan")
    sqlite_services.dispatcher.process(in_group)
    sqlite_services.dispatcher.process(wecom_private("liangfei", "评分 1号 88", "g2"))

    with sqlite_services.factory() as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        sources = [line.source for line in audit_trail(session, venue.id)]
    assert sources == ["瑞泉中学会场群（企业微信）", "私聊（企业微信）"]
