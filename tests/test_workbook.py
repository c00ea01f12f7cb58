"""The campaign workbook: a clerk fills the template, ``edubot import`` writes the config.

The seed 000 campaign is typed in by header (as a clerk would, whatever the column order) and
must load into the same groups, people, rubrics, venues and deadlines as config.example.toml.
"""

from __future__ import annotations

import shutil
import tomllib
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from openpyxl import Workbook, load_workbook

from bot.cli import main
from bot.config import Settings, load_settings
from bot.workbook.sheets import SECTIONS
from bot.workbook.template import write_workbook
from bot.workbook.toml_file import config_rows, import_workbook

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
CAMPAIGN = ("units", "groups", "people", "rubrics", "venues", "deadlines")

# --- seed 000, as a clerk types it from 附件1 and 附件3 ------------------------------------

PEOPLE = [
    {"姓名": "李学斌", "单位": "人事股", "角色": "主持", "企业微信账号": "lixuebin"},
    {"姓名": "申  毅", "角色": "评委", "企业微信账号": "shenyi"},
    {"姓名": "梁  飞", "角色": "评委", "企业微信账号": "liangfei", "钉钉ID": "ding-liangfei"},
    {"姓名": "张伟利", "角色": "评委", "企业微信账号": "zhangweili"},
    {
        "姓名": "郭锋",
        "单位": "计财股",
        "角色": "主持",
        "钉钉ID": "ding-guofeng",
        "手机": 13800000005,
    },
    {"姓名": "党攀峰", "角色": "评委", "钉钉ID": "ding-dangpanfeng", "手机": "13800000006"},
    {"姓名": "樊文英", "角色": "评委", "钉钉ID": "ding-fanwenying", "手机": "13800000007"},
    {"姓名": "韩晓斌", "角色": "评委", "钉钉ID": "ding-hanxiaobin", "手机": "13800000008"},
    {"姓名": "王局长", "角色": "领导", "企业微信账号": "wangjuzhang"},
    {"姓名": "教育股", "单位": "教育股", "角色": "组织者", "企业微信账号": "jiaoyugu"},
    {
        "姓名": "瑞泉中学校长",
        "单位": "瑞泉中学共同体",
        "角色": "校长",
        "企业微信账号": "rq-principal",
    },
    {"姓名": "杜桥中学校长", "单位": "杜桥中学", "角色": "校长", "企业微信账号": "dq-principal"},
    {
        "姓名": "尚德中学校长",
        "单位": "尚德中学",
        "角色": "校长",
        "钉钉ID": "ding-sd-principal",
        "手机": "13800000011",
    },
]
UNITS = [
    {"名称": "教育股"},
    {"名称": "人事股"},
    {"名称": "计财股"},
    {"名称": "瑞泉中学共同体", "上级": "教育股"},
    {"名称": "杜桥中学", "上级": "瑞泉中学共同体"},
    {"名称": "尚德中学", "上级": "瑞泉中学共同体"},
]
GROUPS = [
    {
        "名称": "瑞泉中学会场群",
        "平台": "企业微信",
        "机器人地址": "ruiquan-demo-key",
        "群ID": "wrRuiquanGroup",
        "代号": "ruiquan",
    },
    {
        "名称": "育红初中会场群",
        "平台": "钉钉",
        "机器人地址": "yuhong-demo-token",
        "加签密钥": "SECyuhongdemo",
        "群ID": "cidYuhongGroup",
        "代号": "yuhong",
    },
    {
        "名称": "领导小组群",
        "平台": "企业微信",
        "机器人地址": "leaders-demo-key",
        "群ID": "wrLeadersGroup",
        "代号": "leaders",
    },
    {
        "名称": "校长群",
        "平台": "企业微信",
        "机器人地址": "principals-demo-key",
        "群ID": "wrPrincipalsGroup",
        "代号": "principals",
    },
    {
        "名称": "教育股工作群",
        "平台": "企业微信",
        "机器人地址": "jiaoyugu-demo-key",
        "代号": "jiaoyugu",
        "组织者群": "是",
    },
]
RUBRIC = "学校管理论坛评分表"
RUBRICS = [
    {
        "评分表": RUBRIC,
        "代号": "fujian3",
        "项目": "工作目标",
        "满分": 20,
        "别名": "目标",
        "小数位": 1,
        "计分方式": "平均分",
        "可只报总分": "是",
        "分差提醒": 15,
    },
    {"评分表": RUBRIC, "项目": "任务措施", "满分": 25, "别名": "措施"},
    {"评分表": RUBRIC, "项目": "工作阶段进展", "满分": 20, "别名": "进展"},
    {"评分表": RUBRIC, "项目": "工作预期成效", "满分": "25", "别名": "成效"},
    {"评分表": RUBRIC, "项目": "个人表现", "满分": 10, "别名": "表现"},
]
VENUES = [
    {
        "活动": "学校管理论坛",
        "时间": datetime(2022, 2, 13, 8, 0),  # noqa: DTZ001 - a date cell, as Excel stores it
        "地点": "瑞泉中学",
        "主持": "李学斌",
        "评委": "申  毅\n梁  飞\n张伟利",  # pasted from 附件1
        "参与单位/选手": "瑞泉中学共同体     杜桥中学   尚德中学  韩马初中共同体      育红初中共同体",
        "群": "瑞泉中学会场群",
        "评分表": RUBRIC,
        "成绩推送到": "领导小组群",
        "前一晚提醒": "18:00",
        "提前提醒": "1小时",
        "评完自动公布": "否",
        "代号": "ruiquan",
    },
    {
        "活动": "学校管理论坛",
        "时间": "2022年2月13日8点",
        "地点": "育红初中",
        "主持": "郭锋",
        "评委": "党攀峰、樊文英、韩晓斌",
        "参与单位/选手": "实验初中共同体、前进路初中共同体、陇海初中共同体、南京路初中共同体",
        "群": "育红初中会场群",
        "评分表": RUBRIC,
        "成绩推送到": "领导小组群",
        "代号": "yuhong",
    },
]
DEADLINES = [
    {
        "名称": "书面报告",
        "截止": "2022-02-07 18:00",
        "提交人/单位": "瑞泉中学共同体、杜桥中学、尚德中学",
        "提醒": "3天、1天、2小时",
        "格式要求": "格式见附件2：标题方正小标宋小二，正文仿宋GB2312",
        "群": "校长群",
        "别名": "报告",
        "逾期通报到": "领导小组群",
        "只在工作日提醒": "是",
        "所属活动": "pinzhi2022",
        "代号": "report",
    },
    {
        "名称": "论坛总结",
        "截止": "2022/2/25 18:00",
        "提交人/单位": "李学斌、郭锋",
        "提醒": "2天、2小时",
        "群": "教育股工作群",
        "逾期通报到": "领导小组群",
        "所属活动": "pinzhi2022",
        "代号": "summary",
    },
]
SEED = {
    "人员": PEOPLE,
    "单位": UNITS,
    "群": GROUPS,
    "评分表": RUBRICS,
    "会场": VENUES,
    "材料": DEADLINES,
}


def fill(path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Type ``rows`` into the workbook by each sheet's own headers, below what is there."""
    book = load_workbook(path)
    for name, entries in rows.items():
        ws = book[name]
        header_row, columns = next(
            (r[0].row, {c.value: c.column for c in r if c.value})
            for r in ws.iter_rows(max_row=10)
            if any(c.value == "名称" or c.value in ("姓名", "评分表", "活动") for c in r)
        )
        start = max(header_row, ws.max_row) + 1
        for i, entry in enumerate(entries):
            for header, value in entry.items():
                ws.cell(start + i, columns[header], value)
    book.save(path)


def campaign_of(settings: Settings) -> dict[str, Any]:
    found = {name: getattr(settings, name) for name in CAMPAIGN}
    # A repeating deadline (周报) has no row in the workbook: the config file keeps it.
    found["deadlines"] = tuple(d for d in settings.deadlines if not d.repeat)
    return found


def base_config(path: Path) -> Path:
    """config.example.toml without the sections the workbook owns: the engineer's install."""
    doc = tomlkit.parse(EXAMPLE.read_text(encoding="utf-8"))
    for name in CAMPAIGN:
        del doc[name]
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def seed_workbook(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.xlsx"
    write_workbook(path, {})
    fill(path, SEED)
    return path


# --- the template ------------------------------------------------------------------------


def test_the_empty_template_imports_to_an_empty_campaign(tmp_path: Path) -> None:
    """The example rows are skipped; a config file that does not exist yet is created."""
    write_workbook(tmp_path / "t.xlsx", {})
    config = tmp_path / "new.toml"
    assert import_workbook(tmp_path / "t.xlsx", config) == []
    assert campaign_of(load_settings(config)) == dict.fromkeys(CAMPAIGN, ())


def test_a_section_the_workbook_does_not_own_is_still_checked(tmp_path: Path) -> None:
    write_workbook(tmp_path / "t.xlsx", {})
    config = base_config(tmp_path / "edubot.toml")  # its digest names groups and venues
    problems = [str(p) for p in import_workbook(tmp_path / "t.xlsx", config)]
    assert problems == [
        "配置文件 edubot.toml digests[0].to[0]：找不到“leaders”（group）：请改正拼写",
        "配置文件 edubot.toml digests[0].deadlines[0]：找不到“report”（deadline）：请改正拼写",
        "配置文件 edubot.toml digests[0].deadlines[1]：找不到“summary”（deadline）：请改正拼写",
        "配置文件 edubot.toml digests[0].venues[0]：找不到“ruiquan”（venue）：请改正拼写",
        "配置文件 edubot.toml digests[0].venues[1]：找不到“yuhong”（venue）：请改正拼写",
    ]


# --- seed 000 in, config.example.toml out ------------------------------------------------


def test_seed_000_imports_into_the_example_campaign(seed_workbook: Path, tmp_path: Path) -> None:
    config = base_config(tmp_path / "edubot.toml")
    assert import_workbook(seed_workbook, config) == []
    imported = load_settings(config, env={})
    expected = load_settings(EXAMPLE, env={})
    assert campaign_of(imported) == campaign_of(expected)
    # The other sections are the example's; only the relative paths differ, since they are
    # read relative to each config file's own folder.
    exclude: dict[str, Any] = {"source": True, "database": {"url"}, "server": {"data_dir"}}
    exclude |= dict.fromkeys(CAMPAIGN, True)
    assert imported.model_dump(exclude=exclude) == expected.model_dump(exclude=exclude)
    assert imported.database.url == f"sqlite:///{tmp_path / 'edubot.db'}"


def test_import_keeps_the_other_sections_and_their_comments(
    seed_workbook: Path, tmp_path: Path
) -> None:
    config = base_config(tmp_path / "edubot.toml")
    before = config.read_text(encoding="utf-8")
    assert import_workbook(seed_workbook, config) == []
    after = config.read_text(encoding="utf-8")
    server = before[before.index("[server]") : before.index("[[digests]]")]
    assert server in after
    assert "# how WeCom/DingTalk reach you" in after
    assert after.index("[[digests]]") < after.index("[[campaigns]]")


def test_column_order_does_not_matter(tmp_path: Path) -> None:
    """A workbook made by hand: headers on row 1, columns shuffled, no instructions."""
    book = Workbook()
    book.remove(book.active)
    for name, entries in SEED.items():
        ws = book.create_sheet(name)
        headers = sorted({h for e in entries for h in e}, reverse=True)
        ws.append(headers)
        for entry in entries:
            ws.append([entry.get(h) for h in headers])
    path = tmp_path / "hand.xlsx"
    book.save(path)
    config = base_config(tmp_path / "edubot.toml")
    assert import_workbook(path, config) == []
    assert campaign_of(load_settings(config, env={})) == campaign_of(load_settings(EXAMPLE, env={}))


# --- every mistake at once ---------------------------------------------------------------


def with_mistakes() -> dict[str, list[dict[str, Any]]]:
    rows = {name: [dict(e) for e in entries] for name, entries in SEED.items()}
    rows["会场"][0]["评委"] = "申毅、梁飞、张伟力"
    rows["人员"][8]["角色"] = "裁判"
    rows["群"][1]["平台"] = "微信"
    rows["评分表"][2]["满分"] = "二十"
    rows["材料"][1]["截止"] = "2月25日"
    return rows


FIVE_MISTAKES = [
    "人员 第12行 角色：“裁判”不是角色，应是 评委、主持、校长、领导、组织者、管理员 之一",
    "群 第5行 平台：“微信”不是平台，应是 企业微信或钉钉",
    "评分表 第6行 满分：“二十”不是数字",
    "材料 第5行 截止：“2月25日”不是日期时间，应写成 2022-02-13 08:00",
    "会场 第4行 评委：“张伟力”不在人员表中",
]


def test_five_mistakes_give_five_precise_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "campaign.xlsx"
    write_workbook(path, {})
    fill(path, with_mistakes())
    config = base_config(tmp_path / "edubot.toml")
    before = config.read_bytes()
    assert [str(p) for p in import_workbook(path, config)] == FIVE_MISTAKES
    assert main(["import", str(path), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "有 5 处需要改正，配置未修改" in err
    assert all(f"  {m}\n" in err for m in FIVE_MISTAKES)
    assert config.read_bytes() == before


CROSS_SHEET = [
    ("unknown unit", "人员", 0, "单位", "人事科", "人员 第4行 单位：“人事科”不在单位表中"),
    (
        "unknown parent",
        "单位",
        4,
        "上级",
        "瑞泉共同体",
        "单位 第8行 上级：“瑞泉共同体”不在单位表中",
    ),
    ("person twice", "人员", 8, "姓名", "李  学斌", "人员 第12行 姓名：“李学斌”重复出现"),
    ("unknown group", "会场", 1, "群", "育红群", "会场 第5行 群：“育红群”不在群表中"),
    ("unknown rubric", "会场", 0, "评分表", "附件3", "会场 第4行 评分表：“附件3”不在评分表中"),
    ("unknown host", "会场", 1, "主持", "郭峰", "会场 第5行 主持：“郭峰”不在人员表中"),
    (
        "unknown submitter",
        "材料",
        0,
        "提交人/单位",
        "瑞泉中学、杜桥中学",
        "材料 第4行 提交人/单位：“瑞泉中学”不在人员表或单位表中",
    ),
    ("blank required", "会场", 0, "评委", None, "会场 第4行 评委：必填，不能为空"),
    (
        "bad reminder",
        "材料",
        1,
        "提醒",
        "两天",
        "材料 第5行 提醒：“两天”不是提醒时间，应写成 3天、2小时 或 30分钟",
    ),
    ("bad yes/no", "群", 4, "组织者群", "对的", "群 第8行 组织者群：“对的”应填“是”或“否”"),
    (
        "item twice",
        "评分表",
        1,
        "项目",
        "工作目标",
        "评分表 第5行 项目：“工作目标”在“学校管理论坛评分表”中重复出现",
    ),
    (
        "loader's check, on its row",
        "材料",
        0,
        "所属活动",
        "pinzhi",
        "材料 第4行 所属活动：找不到“pinzhi”（campaign）：请改正拼写 (defined: pinzhi2022)",
    ),
]


@pytest.mark.parametrize(
    ("sheet", "index", "header", "value", "message"),
    [case[1:] for case in CROSS_SHEET],
    ids=[case[0] for case in CROSS_SHEET],
)
def test_each_mistake_names_sheet_row_and_column(
    tmp_path: Path, sheet: str, index: int, header: str, value: Any, message: str
) -> None:
    rows = {name: [dict(e) for e in entries] for name, entries in SEED.items()}
    rows[sheet][index][header] = value
    path = tmp_path / "campaign.xlsx"
    write_workbook(path, {})
    fill(path, rows)
    assert [str(p) for p in import_workbook(path, base_config(tmp_path / "edubot.toml"))] == [
        message
    ]


def test_every_mistake_the_loader_finds_is_reported_on_its_row(tmp_path: Path) -> None:
    """Mistakes only the config loader sees (an unknown 所属活动) come all at once too."""
    rows = {name: [dict(e) for e in entries] for name, entries in SEED.items()}
    rows["材料"][0]["所属活动"] = "pinzhi"
    rows["材料"][1]["所属活动"] = "pinzhi2023"
    path = tmp_path / "campaign.xlsx"
    write_workbook(path, {})
    fill(path, rows)
    problems = [str(p) for p in import_workbook(path, base_config(tmp_path / "edubot.toml"))]
    assert problems == [
        "材料 第4行 所属活动：找不到“pinzhi”（campaign）：请改正拼写 (defined: pinzhi2022)",
        "材料 第5行 所属活动：找不到“pinzhi2023”（campaign）：请改正拼写 (defined: pinzhi2022)",
    ]


def test_a_missing_sheet_and_column_are_reported(tmp_path: Path) -> None:
    book = Workbook()
    book.active.title = "人员"
    book.active.append(["单位", "角色"])
    book.active.append(["人事股", "评委"])
    path = tmp_path / "bad.xlsx"
    book.save(path)
    problems = [str(p) for p in import_workbook(path, tmp_path / "edubot.toml")]
    assert problems[:2] == ["人员：找不到表头（应有“姓名”列）", "单位：缺少这张工作表"]
    assert not (tmp_path / "edubot.toml").exists()


def test_a_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "campaign.xlsx"
    path.write_text("not a workbook", encoding="utf-8")
    [problem] = import_workbook(path, tmp_path / "edubot.toml")
    assert str(problem).startswith("campaign.xlsx：无法打开")


# --- Excel out, and back in --------------------------------------------------------------


def test_export_then_import_leaves_the_example_unchanged(tmp_path: Path) -> None:
    config = tmp_path / "edubot.toml"
    shutil.copy(EXAMPLE, config)
    out = tmp_path / "out.xlsx"
    assert main(["export-config", str(out), "--config", str(config)]) == 0
    assert main(["import", str(out), "--config", str(config)]) == 0
    assert config.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")


def test_exported_workbook_reads_like_the_clerks(tmp_path: Path) -> None:
    rows = config_rows(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")))
    people = {r[0]: r for r in rows["人员"]}
    assert people["梁飞"][:3] == ["梁飞", "", "评委"]
    venue = rows["会场"][0]
    assert venue[:3] == ["学校管理论坛", "2022-02-13 08:00", "瑞泉中学"]
    assert venue[6] == "瑞泉中学会场群"  # group names, not keys
    assert venue[10] == "1小时"
    assert rows["材料"][0][3] == "3天、1天、2小时"
    assert "${EDUBOT_RUIQUAN_WEBHOOK:-ruiquan-demo-key}" in rows["群"][0]  # secrets stay in env


def test_a_changed_judge_round_trips_into_the_config(tmp_path: Path) -> None:
    config = tmp_path / "edubot.toml"
    shutil.copy(EXAMPLE, config)
    out = tmp_path / "out.xlsx"
    assert main(["export-config", str(out), "--config", str(config)]) == 0
    book = load_workbook(out)
    ws = book["会场"]
    judges = next(c for c in ws[2] if c.value == "评委").column
    ws.cell(4, judges, "申毅、梁飞、王局长")
    book.save(out)
    assert import_workbook(out, config) == []
    assert load_settings(config, env={}).venue("ruiquan").judges == ("申毅", "梁飞", "王局长")
    assert "# how WeCom/DingTalk reach you" in config.read_text(encoding="utf-8")


def test_sections_of_an_old_file_are_replaced(tmp_path: Path, seed_workbook: Path) -> None:
    """``[[forums]]`` (the old name) is replaced by ``[[venues]]``, not left beside it."""
    config = base_config(tmp_path / "edubot.toml")
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[[forums]]\nkey = "old"\ntitle = "旧"\n',
        encoding="utf-8",
    )
    assert import_workbook(seed_workbook, config) == []
    raw = tomllib.loads(config.read_text(encoding="utf-8"))
    assert "forums" not in raw
    assert [v["key"] for v in raw["venues"]] == ["ruiquan", "yuhong"]
    assert set(SECTIONS) <= raw.keys()


def test_import_keeps_the_files_permissions(seed_workbook: Path, tmp_path: Path) -> None:
    config = base_config(tmp_path / "edubot.toml")
    config.chmod(0o600)
    assert import_workbook(seed_workbook, config) == []
    assert config.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "edubot.toml.tmp").exists()


def _rezipped(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    """``source`` with some of its zip entries replaced or added."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            if item.filename not in replace:
                new.writestr(item, old.read(item.filename))
        for name, data in replace.items():
            new.writestr(name, data)
    return target


def test_a_workbook_that_would_unpack_to_too_much_is_refused_unread(tmp_path: Path) -> None:
    template = tmp_path / "template.xlsx"
    write_workbook(template, {})
    bomb = _rezipped(template, tmp_path / "bomb.xlsx", {"xl/media/filler.bin": bytes(60 * 2**20)})
    assert bomb.stat().st_size < 2**20  # small to send, 60 MB to open
    config = tmp_path / "edubot.toml"
    config.write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
    problems = import_workbook(bomb, config)
    assert [str(p) for p in problems] == [
        "bomb.xlsx：表格过大（解压后有 60 MB，超过 50 MB），请只保留模板里的工作表"
    ]
    assert config.read_text(encoding="utf-8") == 'timezone = "Asia/Shanghai"\n'


def test_a_damaged_workbook_is_a_listed_mistake(tmp_path: Path) -> None:
    template = tmp_path / "template.xlsx"
    write_workbook(template, {})
    damaged = _rezipped(template, tmp_path / "damaged.xlsx", {"xl/workbook.xml": b"<workbook"})
    problems = import_workbook(damaged, tmp_path / "edubot.toml")
    assert len(problems) == 1
    assert "无法打开" in str(problems[0])
