"""The campaign workbook's template and its cells: what a clerk opens, and how each cell
reads (names as 附件1 pads them, dates as clerks write them, roles in Chinese)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.cli import main
from bot.workbook.cells import CellError, read_cell, split_list
from bot.workbook.sheets import SHEETS

# --- the template ------------------------------------------------------------------------


def test_template_has_every_sheet_with_its_headers_and_drop_downs(tmp_path: Path) -> None:
    assert main(["template", str(tmp_path / "t.xlsx")]) == 0
    book = load_workbook(tmp_path / "t.xlsx")
    assert book.sheetnames == ["人员", "单位", "群", "评分表", "会场", "材料"]
    for sheet in SHEETS:
        headers = [c.value for c in book[sheet.name][2]]
        assert headers == [c.header for c in sheet.columns] + ["备注"]
        assert "示例" in str(book[sheet.name].cell(3, len(headers)).value)
        assert book[sheet.name]["A1"].value.startswith(sheet.name)
        assert book[sheet.name].column_dimensions["A"].width >= 10
    assert [c.header for c in SHEETS[4].columns][:8] == [
        "活动",
        "时间",
        "地点",
        "主持",
        "评委",
        "参与单位/选手",
        "群",
        "评分表",
    ]
    lists = {dv.formula1 for dv in book["人员"].data_validations.dataValidation}
    assert lists == {'"评委,主持,校长,领导,组织者,管理员"'}
    lists = {dv.formula1 for dv in book["群"].data_validations.dataValidation}
    assert '"企业微信,钉钉"' in lists


# --- cells -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("申毅、梁飞、张伟利", ["申毅", "梁飞", "张伟利"]),
        ("申  毅\n梁  飞\n张伟利", ["申毅", "梁飞", "张伟利"]),
        ("王少贤  王玉新", ["王少贤", "王玉新"]),
        ("陈 林，李  强; 贺涛", ["陈林", "李强", "贺涛"]),
        ("瑞泉中学共同体     杜桥中学", ["瑞泉中学共同体", "杜桥中学"]),
    ],
    ids=[
        "顿号",
        "padded, one per line",
        "two spaces between names",
        "mixed separators",
        "附件1 spacing",
    ],
)
def test_split_list(text: str, names: list[str]) -> None:
    assert split_list(text) == names


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("datetime", "2022-02-13 08:00", "2022-02-13 08:00"),
        ("datetime", "2022/2/13 8:00", "2022-02-13 08:00"),
        ("datetime", "2022年2月13日8点", "2022-02-13 08:00"),
        ("datetime", "2022年2月8日 14:30", "2022-02-08 14:30"),
        ("datetime", datetime(2022, 2, 13, 8), "2022-02-13 08:00"),  # noqa: DTZ001
        ("time", "18:00", "18:00"),
        ("time", "8点", "08:00"),
        ("time", "不提醒", ""),
        ("offsets", "提前1小时", ["1h"]),
        ("offsets", "3天、1天、2小时、30分钟", ["3d", "1d", "2h", "30m"]),
        ("roles", "评委、主持", ["judge", "host"]),
        ("roles", "主持人", ["host"]),
        ("platform", "钉钉", "dingtalk"),
        ("bool", "否", False),
        ("decimal", 12.5, 12.5),
        ("text", 13800000005, "13800000005"),
        ("text", "  ", None),
    ],
)
def test_read_cell(kind: Any, value: Any, expected: Any) -> None:
    assert read_cell(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("datetime", "2022-02-30 08:00", "“2022-02-30 08:00”不是有效的日期时间"),
        ("datetime", "下周一", "“下周一”不是日期时间，应写成 2022-02-13 08:00"),
        ("datetime", datetime(2022, 2, 7), "“2022-02-07”缺少时刻，应写成 2022-02-07 18:00"),  # noqa: DTZ001
        ("datetime", date(2022, 2, 7), "“2022-02-07”缺少时刻，应写成 2022-02-07 18:00"),
        ("datetime", "2022-02-07", "“2022-02-07”不是日期时间，应写成 2022-02-13 08:00"),
        ("time", "25:00", "“25:00”不是时刻，应写成 18:00 或“不提醒”"),
        ("decimal", "0", "“0”应是大于 0 的数字"),
        ("int", "1.5", "“1.5”不是整数"),
        ("aggregate", "中位数", "“中位数”不是计分方式，应是 平均分或去掉最高最低分"),
    ],
)
def test_read_cell_refuses(kind: Any, value: Any, problem: str) -> None:
    with pytest.raises(CellError) as error:
        read_cell(kind, value)
    assert str(error.value) == problem
