"""``edubot demo --scene reporting``: a weekly 周报 over three weeks on the accelerated clock.

The sample campaign's principals owe a 周报 every Friday 17:00 (2022-02-18, 02-25, 03-04).
Week 1: two hand in, the reminder names only the third (in the group, and privately to its
principal), the overdue list reaches the leaders,
and the late one's Monday submission lands on week 1 (逾期补交). Week 2: the organizer looks
at 已交, returns one report with a reason (the principal is told privately), and 催交 sends
the reminder to the principals' group at once, naming exactly who owes. Week 3: 尚德 hands
week 2 in late and week 3 on time, as does everyone, so nothing is pushed; the organizer
writes the index and the files.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rich.rule import Rule

from bot.config import DeadlineConfig, Settings
from handlers.submission_export import export_submissions, pick_deadlines
from storage.db import transaction

if TYPE_CHECKING:
    from bot.devtools.demo import Story

START = "2022-02-14T08:00:00+08:00"
WEEKLY = DeadlineConfig(
    key="zhoubao",
    title="周报",
    repeat="weekly",
    weekday="fri",
    time="17:00",
    start=date(2022, 2, 14),
    end=date(2022, 3, 4),
    submitters=("瑞泉中学共同体", "杜桥中学", "尚德中学"),
    group="principals",
    remind_before=("1d",),
    escalate_to=("leaders",),
    remind_private=True,
    workdays_only=True,
    campaign="pinzhi2022",
)
STEPS = 6
ORG = ("jiaoyugu", "教育股")
RQ = ("rq-principal", "瑞泉中学校长")
DQ = ("dq-principal", "杜桥中学校长")
LINK = "https://pan.example.cn/s/"


def reporting_settings(settings: Settings) -> Settings:
    """The sample campaign with only the weekly 周报 to collect."""
    scene = settings.model_copy(update={"deadlines": (WEEKLY,), "digests": ()})
    scene.__dict__.pop("planned_deadlines", None)  # computed again for the new deadlines
    return scene


def _step(story: Story, number: int, when: str, title: str, *, fast: bool) -> None:
    if not fast:
        time.sleep(0.4)
    story.console.print(Rule(f"[{number}/{STEPS}] {when} {title}"))


def play_scene(story: Story, out: Path, *, fast: bool, weekly: bool) -> None:
    """Play the forum day or the weekly reporting, then say where the file went."""
    from bot.devtools.demo import play  # noqa: PLC0415 - that module imports this one

    path = play_reporting(story, out, fast=fast) if weekly else play(story, out, fast=fast)
    story.console.print(Rule("完成"))
    what = "提交情况" if weekly else "成绩汇总表"
    story.console.print(
        f"{what}已写入：[bold]{path}[/]" + ("（文件见同名 .zip）" if weekly else "")
    )


def play_reporting(s: Story, out: Path, *, fast: bool) -> Path:
    """The scene. Returns the path of the exported index."""
    _step(s, 1, "2月16日—18日", "第1周：只提醒未交的学校，截止后逾期名单送领导小组", fast=fast)
    s.at("2022-02-16T10:00:00")
    s.wecom_app(*DQ, f"提交 周报 {LINK}dq-w1")
    s.wecom_app(*RQ, f"提交 周报 {LINK}rq-w1")
    s.at("2022-02-17T17:00:30")
    s.at("2022-02-18T17:00:30")

    _step(s, 2, "2月21日", "尚德中学补交：自动记入所欠的第1周，并标明逾期补交", fast=fast)
    s.at("2022-02-21T09:00:00")
    s.dingtalk("ding-sd-principal", "尚德中学校长", "", f"提交 周报 {LINK}sd-w1")

    _step(s, 3, "2月22日—23日", "第2周：组织者查看已交，退回一份并私信提交人", fast=fast)
    s.at("2022-02-22T10:00:00")
    s.wecom_app(*DQ, f"提交 周报 {LINK}dq-w2")
    s.at("2022-02-23T10:00:00")
    s.wecom_app(*ORG, "已交 周报")
    s.wecom_app(*ORG, "退回 杜桥中学 周报 请补充本周课后服务数据")
    s.deliver()

    _step(s, 4, "2月24日", "催交：立即在校长群提醒，只点名未交的学校", fast=fast)
    s.at("2022-02-24T11:00:00")
    s.wecom_app(*ORG, "催交 周报")
    s.deliver()
    s.wecom_app(*DQ, f"提交 周报 {LINK}dq-w2-v2")
    s.wecom_app(*RQ, f"提交 周报 {LINK}rq-w2")
    s.at("2022-02-25T17:00:30")

    _step(s, 5, "3月1日—4日", "第3周：全部按时提交，不再提醒", fast=fast)
    s.at("2022-03-01T10:00:00")
    s.wecom_app(*DQ, f"提交 周报 {LINK}dq-w3")
    s.wecom_app(*RQ, f"提交 周报 {LINK}rq-w3")
    s.dingtalk("ding-sd-principal", "尚德中学校长", "", f"提交 周报 {LINK}sd-w2")  # owed
    s.dingtalk("ding-sd-principal", "尚德中学校长", "", f"提交 周报 {LINK}sd-w3")
    s.at("2022-03-03T17:00:30")
    s.at("2022-03-04T17:00:30")
    s.wecom_app(*ORG, "未交 周报 第2周")

    _step(s, 6, "3月4日", "组织者导出提交情况（xlsx）和文件（zip）", fast=fast)
    with transaction(s.services.factory) as session:
        chosen = pick_deadlines(session, "zhoubao", "", s.clock.now())
        done = export_submissions(
            session,
            chosen,
            data_dir=Path(s.settings.server.data_dir),
            out_dir=out,
            tz=s.settings.tz,
        )
    return done.index
