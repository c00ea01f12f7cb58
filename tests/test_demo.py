"""`edubot demo` end to end, as a user runs it: a subprocess, exit 0, the story told, the
xlsx written where asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook


def test_demo_runs_the_whole_story_and_writes_the_sheet(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--fast", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    # Reminders, scoring on both platforms, a refused typo, publication, submissions.
    assert "【会场提醒】学校管理论坛·瑞泉中学会场明天开始" in out
    assert "任务措施满分 25，收到 27。" in out
    assert "已更正 梁飞 → 杜桥中学" in out
    assert "已记录 党攀峰 → 实验初中共同体：86 分" in out
    # The DingTalk venue is heard over Stream mode, and the transcript says so.
    assert "钉钉会场经 Stream 模式接入" in out
    assert "（钉钉·群·Stream）" in out
    assert "推送 → 领导小组群（企业微信） 【成绩公布】学校管理论坛·瑞泉中学会场" in out
    assert "逾期 2 小时 5 分钟（已标记为逾期提交）" in out
    # Deadline reminders name only who has not submitted; the overdue list reaches leaders.
    reminder = out.split("【交材料提醒】书面报告", 1)[1].split("提交方式", 1)[0]
    assert "瑞泉中学共同体" in reminder
    assert "尚德中学" in reminder
    assert "杜桥中学" not in reminder
    overdue = out.split("推送 → 领导小组群（企业微信） ### 【逾期未交】书面报告", 1)[1]
    assert "应交 3 · 已交 2 · 逾期交 0 · 未交 1\n" in overdue.replace("      ", "")
    assert "Traceback" not in result.stderr

    sheet = tmp_path / "ruiquan-成绩汇总表.xlsx"
    assert f"成绩汇总表已写入：{sheet}" in out
    book = load_workbook(sheet)
    summary = book.worksheets[0]
    rows = [[cell.value for cell in row] for row in summary.iter_rows(min_row=3, max_row=7)]
    assert [r[0] for r in rows] == [
        "杜桥中学",
        "瑞泉中学共同体",
        "尚德中学",
        "韩马初中共同体",
        "育红初中共同体",
    ]
    assert [r[-2] for r in rows] == [88.3, 87.7, 87.7, 81.0, 79.2]
    assert [r[-1] for r in rows] == [1, 2, 2, 4, 5]


def test_the_reporting_scene_shows_three_weeks_with_a_return_and_an_urge(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "--fast",
            "--scene",
            "reporting",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout.replace("\n      ", "\n")
    # Week 1: the reminder names only who owes; the late one lands on week 1.
    week1 = out.split("【交材料提醒】周报（第1周）", 1)[1].split("提交方式", 1)[0]
    assert "尚德中学" in week1
    assert "杜桥中学" not in week1
    assert "推送 → 尚德中学校长（私信） 【交材料提醒】您所在单位尚未提交“周报（第1周）”" in out
    assert "“周报（第1周，逾期补交）”第 1 版" in out
    # Week 2: 退回 reaches the submitter privately, 催交 names the three who owe now.
    assert "已退回杜桥中学的“周报（第2周）”第 1 版（原因：请补充本周课后服务数据）" in out
    assert "推送 → 杜桥中学校长（私信） 您提交的杜桥中学的“周报（第2周）”第 1 版被退回" in out
    assert "已在校长群催交“周报（第2周）”，点名 3 个：瑞泉中学共同体、杜桥中学、尚德中学" in out
    assert "“周报（第2周）”第 2 版" in out
    # Week 3 and the export.
    assert "“周报（第3周）”第 1 版" in out
    assert (tmp_path / "zhoubao.xlsx").is_file()
    assert (tmp_path / "zhoubao.zip").is_file()
    assert "Traceback" not in result.stderr
