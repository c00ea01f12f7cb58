"""A bureau's own campaign, unlike the sample: a 3-item 赛课 rubric with different maxima, two
venues sharing a judge, a deadline with a long name. Every 帮助, venue reminder and refusal
is checked to hold nothing from the sample campaign, and every example it shows is accepted
when sent back (issue 15, "Must show")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.dispatcher import Outcome
from bot.planning.venue_reminders import reminder_text
from handlers.messages import InboundMessage

SAMPLE = (
    "瑞泉",
    "杜桥",
    "尚德",
    "韩马",
    "育红",
    "书面报告",
    "申毅",
    "梁飞",
    "张伟利",
    "李学斌",
    "学校管理论坛",
    "18 22 17 20 9",
    "目标",
    "措施",
    "进展",
    "成效",
    "表现",
)
LONG_TITLE = "2026年春季学期教学常规检查工作自查报告"
IDS = count()

PEOPLE = {
    "赵磊": ("zhaolei", ["host"], ""),
    "孙丽": ("sunli", ["host"], ""),
    "王芳": ("wangfang", ["judge"], ""),
    "李强": ("liqiang", ["judge"], ""),  # judges both venues
    "陈静": ("chenjing", ["judge"], ""),
    "刘洋": ("liuyang", ["judge"], ""),
    "黄磊": ("huanglei", ["judge"], ""),
    "马局长": ("majuzhang", ["leader"], ""),
    "教研室": ("jiaoyanshi", ["organizer"], ""),
    "何校长": ("hexiaozhang", ["principal"], "城东小学"),
}
CHATS = {"dongqu": "wrDongqu", "xiqu": "wrXiqu"}


def own_campaign(db_url: str, data_dir: Path) -> dict[str, Any]:
    return {
        "timezone": "Asia/Shanghai",
        "database": {"url": db_url},
        "server": {"data_dir": str(data_dir)},
        "groups": [
            {"key": key, "name": f"{name}赛课群", "platform": "wecom", "webhook": f"{key}-hook"}
            | {"chat_id": CHATS[key]}
            for key, name in (("dongqu", "东区"), ("xiqu", "西区"))
        ],
        "people": [
            {"name": name, "wecom_userid": uid, "roles": roles, "unit": unit}
            for name, (uid, roles, unit) in PEOPLE.items()
        ],
        "rubrics": [
            {
                "key": "saike",
                "name": "赛课评分表",
                "decimals": 1,
                "allow_total": True,
                "items": [
                    {"name": "教学设计", "max": 40, "aliases": ["设计"]},
                    {"name": "课堂实施", "max": 40, "aliases": ["实施"]},
                    {"name": "教学效果", "max": 20, "aliases": ["效果"]},
                ],
            }
        ],
        "venues": [
            {
                "key": "dongqu",
                "title": "青年教师赛课",
                "starts_at": "2026-04-10 08:30",
                "location": "东区实验小学",
                "rubric": "saike",
                "host": "赵磊",
                "judges": ["王芳", "李强", "陈静"],
                "contestants": ["周晓燕", "吴建华", "郑丽娟"],
                "group": "dongqu",
            },
            {
                "key": "xiqu",
                "title": "青年教师赛课",
                "starts_at": "2026-04-11 08:30",
                "location": "西区中心小学",
                "rubric": "saike",
                "host": "孙丽",
                "judges": ["李强", "刘洋", "黄磊"],
                "contestants": ["冯志远", "蒋红梅"],
                "group": "xiqu",
            },
        ],
        "deadlines": [
            {
                "key": "selfcheck",
                "title": LONG_TITLE,
                "due": "2026-04-20 17:00",
                "submitters": ["城东小学"],
                "group": "dongqu",
            }
        ],
    }


@pytest.fixture
def own(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    clock.set(clock.now().replace(year=2026, month=4, day=9))
    settings = settings_from_mapping(own_campaign(sqlite_url, tmp_path / "data"))
    services = build_services(settings, clock=clock)
    yield services
    services.engine.dispose()


def send(services: Services, person: str, text: str, chat: str = "") -> Outcome:
    return services.dispatcher.process(
        InboundMessage(
            platform="wecom",
            channel="wecom_robot" if chat else "wecom_app",
            message_id=f"own-{next(IDS)}",
            sender_id=PEOPLE[person][0],
            text=text,
            chat_type="group" if chat else "private",
            chat_id=CHATS.get(chat, ""),
        )
    )


def assert_own(text: str) -> None:
    found = [word for word in SAMPLE if word in text]
    assert not found, (found, text)


def examples(help_text: str) -> list[str]:
    """The example messages of a 帮助: each line's text before " —— "."""
    return [
        line.split(" —— ")[0].replace("（换行）", "\n")
        for line in help_text.splitlines()
        if " —— " in line
    ]


# 公布 is refused until every judge has scored, 撤销公布 until then (true, and said so).
STATEFUL = ("公布", "撤销公布")


@pytest.mark.parametrize(
    ("person", "chat"),
    [
        ("王芳", ""),
        ("李强", ""),  # both venues: examples name the venue
        ("李强", "xiqu"),  # in one venue's group: that venue's contestants
        ("赵磊", ""),
        ("马局长", ""),
        ("教研室", ""),
        ("何校长", ""),
    ],
)
def test_help_is_built_from_the_persons_own_campaign_and_every_example_works(
    own: Services, person: str, chat: str
) -> None:
    shown = send(own, person, "帮助", chat).reply.text
    assert_own(shown)
    sent = [e for e in examples(shown) if not e.startswith(STATEFUL)]
    assert sent
    for example in sent:
        outcome = send(own, person, example, chat)
        assert outcome.status == "ok", (example, outcome.reply.text)
        assert_own(outcome.reply.text)


def test_help_shows_the_rubric_items_and_only_allowed_commands(own: Services) -> None:
    judge = send(own, "王芳", "帮助").reply.text
    assert "赛课评分表：教学设计 40 / 课堂实施 40 / 教学效果 20" in judge
    assert "评分 周晓燕 32 32 16 —— 按评分表顺序逐项给分" in judge
    assert "公布" not in judge
    assert "导出" not in judge
    leader = send(own, "马局长", "帮助").reply.text
    assert "公布" not in leader  # a leader may not publish, so is not shown it
    assert f"未交 {LONG_TITLE}" in leader
    assert "评分" not in send(own, "何校长", "帮助").reply.text
    assert f"提交 {LONG_TITLE} https://…" in send(own, "何校长", "帮助").reply.text


@pytest.mark.parametrize("key", ["dongqu", "xiqu"])
def test_the_venue_reminder_example_is_the_venues_own_and_is_accepted(
    own: Services, key: str
) -> None:
    settings = own.settings
    venue = settings.venue(key)
    text = reminder_text(venue, settings.tz, "eve", rubric=settings.rubric(venue.rubric))
    assert_own(text)
    example = text.rsplit("例如：", 1)[1]
    assert example == "评分 1号 32 32 16"
    outcome = send(own, "李强", example, key)  # the judge on both venues, in this group
    assert outcome.status == "ok", outcome.reply.text
    assert outcome.reply.text.startswith(f"已记录 李强 → {venue.contestants[0]}：80 分")


REFUSALS = [
    ("王芳", "评分 周晓燕 32 32"),
    ("王芳", "评分 周晓燕 好 32 16"),
    ("王芳", "评分 周晓燕"),
    ("王芳", "评分"),
    ("王芳", "更正 周晓燕 30 30 10"),
    ("王芳", "确认"),
    ("王芳", "评分 谁也不是 32 32 16"),
    ("王芳", "评分 冯志远 32 32 16"),
    ("王芳", "导出"),
    ("王芳", "排名"),
    ("李强", "评分 1号 32 32 16"),
    ("马局长", "公布"),
    ("赵磊", "公布"),
    ("何校长", "提交"),
    ("何校长", "未交"),
]


@pytest.mark.parametrize(("person", "text"), REFUSALS)
def test_refusals_hold_nothing_from_the_sample_and_their_examples_work(
    own: Services, person: str, text: str
) -> None:
    outcome = send(own, person, text)
    assert outcome.status == "refused", outcome.reply.text
    assert_own(outcome.reply.text)
    for example in re.findall(r"例如：([^（\n]+)", outcome.reply.text):
        if "…" in example or "？" in example:
            continue
        again = send(own, person, example.strip())
        assert again.status == "ok", (example, again.reply.text)


def _help_in(services: Services, person: str, chat_id: str) -> str:
    message = InboundMessage(
        "wecom", "wecom_robot", f"own-{next(IDS)}", PEOPLE[person][0], "帮助", "group", chat_id
    )
    return services.dispatcher.process(message).reply.text


def test_an_organizer_asking_in_an_unlisted_group_is_shown_its_chat_id(own: Services) -> None:
    line = '本群还没有登记：请在配置文件中本群的 [[groups]] 里写上 chat_id = "wrNewGroup"'
    assert line in _help_in(own, "教研室", "wrNewGroup")
    assert "本群还没有登记" not in _help_in(own, "教研室", CHATS["dongqu"])
    assert "本群还没有登记" not in _help_in(own, "王芳", "wrNewGroup")  # only organizers
