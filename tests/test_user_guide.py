"""The user guide's examples against the real bot, so they cannot drift (issue 15, item 11).

docs/用户指南.md is written on ``config.example.toml``. Every ``帮助`` block in it is sent to
the bot as the person its reply names and must be answered exactly as printed; so must the
exchanges that do not depend on what happened before (``SENDERS``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from handlers.messages import InboundMessage

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "用户指南.md"
EXAMPLE = REPO / "config.example.toml"
IDS = count()

_BLOCK = re.compile(r"```text\n(.*?)\n```", re.S)
_EXCHANGE = re.compile(r"^【发送】(?P<sent>.*)\n【回复】(?P<reply>(?:.|\n)*)$")

SENDERS: dict[tuple[str, str], str] = {
    ("你好", "没有听懂"): "申毅",
    ("评分", "请按评分表顺序"): "申毅",
    ("评分 瑞泉中学 18 27 17 20 9", "任务措施满分"): "申毅",
    ("评分 城关 86", "没有找到选手"): "申毅",
    ("评分 共同体 86", "“共同体”能对上"): "申毅",
    ("评分 瑞泉中学 86", "李学斌，"): "李学斌",
    ("评分 实验 101", "总分满分"): "党攀峰",
    ("评分 实验 19 23 18 22", "学校管理论坛评分表有"): "党攀峰",
    ("更正 前进路 88", "您还没有给"): "党攀峰",
    ("导出", "“导出”只有"): "申毅",
    ("导出", "请写明会场"): "教育股",
    ("提交 书面报告", "请附上"): "瑞泉中学校长",
    ("未交", "“未交”名单"): "申毅",
}
"""Exchanges whose printed answer holds on a fresh campaign: (sent, reply start) → sender."""


def exchanges() -> list[tuple[str, str]]:
    """(sent, reply) of every block that is exactly one 【发送】 and its 【回复】."""
    found: list[tuple[str, str]] = []
    for block in _BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        match = _EXCHANGE.match(block)
        if match is None or re.search("【(发送|回复|推送)", match.group("reply")):
            continue
        found.append((match.group("sent"), match.group("reply").strip("\n")))
    return found


HELP = [(sent, reply) for sent, reply in exchanges() if sent == "帮助"]
PLAIN = [
    (person, sent, reply)
    for sent, reply in exchanges()
    for (said, start), person in SENDERS.items()
    if sent == said and reply.startswith(start)
]


@pytest.fixture
def guide_bot(tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{tmp_path / 'guide.db'}"}
    data["server"] = {**data.get("server", {}), "data_dir": str(tmp_path / "data")}
    env = {"EDUBOT_LINK_SECRET": ""}
    services = build_services(settings_from_mapping(data, env=env), clock=clock)
    yield services
    services.engine.dispose()


def _as(services: Services, name: str, text: str) -> str:
    person = services.settings.person(name)
    message_id = f"guide-{next(IDS)}"
    if person.wecom_userid:
        message = InboundMessage(
            "wecom", "wecom_app", message_id, person.wecom_userid, text, "private"
        )
    else:
        assert person.dingtalk_userid, name
        message = InboundMessage(
            "dingtalk", "dingtalk", message_id, person.dingtalk_userid, text, "private"
        )
    return services.dispatcher.process(message).reply.text


def test_the_guide_shows_help_for_every_role_and_its_fixed_exchanges() -> None:
    assert len(HELP) >= 4
    assert len(PLAIN) == len(SENDERS)  # each listed exchange is still in the guide


@pytest.mark.parametrize(("sent", "reply"), HELP, ids=[r.split("，")[0] for _, r in HELP])
def test_every_help_in_the_guide_is_what_the_bot_answers(
    guide_bot: Services, sent: str, reply: str
) -> None:
    person = reply.split("，", 1)[0]
    assert _as(guide_bot, person, sent) == reply


@pytest.mark.parametrize(("person", "sent", "reply"), PLAIN, ids=[s for _, s, _ in PLAIN])
def test_fixed_exchanges_in_the_guide_are_what_the_bot_answers(
    guide_bot: Services, person: str, sent: str, reply: str
) -> None:
    assert _as(guide_bot, person, sent) == reply
